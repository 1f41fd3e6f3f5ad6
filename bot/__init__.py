"""Channels (console now; Telegram and WeChat later), the CLI and the composition root."""
