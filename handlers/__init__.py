"""Conversations: router, dialog engine, flows, message catalogs. Never imports a chat platform."""
