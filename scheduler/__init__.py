"""The tick that turns due reminders, notices and digests into outbox rows (arrives with its issue)."""
