"""trigram index of household addresses and head names, for substring search on SQLite

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 23:15:00

A search for part of an address scanned the whole ledger with LIKE '%...%' (8 ms for 30,000 households, with the
event loop waiting, since SQLite runs on its thread). An FTS5 table with the trigram tokenizer answers the same
question from an index in under a millisecond for fragments of three characters or more (storage.records.households).
It is an external-content table: it stores the index only, and triggers keep it in step with `household`.

Keep in mind: a later batch migration that recreates `household` (SQLite's way to alter it) drops these triggers
with the old table; create them again in that migration (tests/storage/test_migrations.py checks they exist).
PostgreSQL keeps its LIKE search, which runs in the server and does not hold up the bot.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = (
    """CREATE TRIGGER household_search_insert AFTER INSERT ON household BEGIN
        INSERT INTO household_search(rowid, address, head_name) VALUES (new.id, new.address, new.head_name);
    END""",
    """CREATE TRIGGER household_search_delete AFTER DELETE ON household BEGIN
        INSERT INTO household_search(household_search, rowid, address, head_name)
        VALUES ('delete', old.id, old.address, old.head_name);
    END""",
    """CREATE TRIGGER household_search_update AFTER UPDATE OF address, head_name ON household BEGIN
        INSERT INTO household_search(household_search, rowid, address, head_name)
        VALUES ('delete', old.id, old.address, old.head_name);
        INSERT INTO household_search(rowid, address, head_name) VALUES (new.id, new.address, new.head_name);
    END""",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(
        "CREATE VIRTUAL TABLE household_search USING fts5("
        "address, head_name, content='household', content_rowid='id', tokenize='trigram')"
    )
    op.execute("INSERT INTO household_search(household_search) VALUES ('rebuild')")  # the households there are
    for trigger in TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in ("household_search_insert", "household_search_delete", "household_search_update"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS household_search")
