"""The tick that turns due reminders, notices, digests, chases and escalations into outbox rows.

Imports handlers and storage, never bot; APScheduler is imported only by scheduler.tick (the tick, not the store).
"""
