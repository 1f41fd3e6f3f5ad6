"""Alembic environment: runs on the application's connection, or on LIANXIN_DATABASE_URL for developers."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # registers the tables on SQLModel.metadata; modelled() below

target_metadata = SQLModel.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things in place
        compare_type=True,
        include_name=storage.models.modelled,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_url(url: str) -> None:
    # The application's Database, not a bare engine: on SQLite its engine is what begins transactions (the driver
    # leaves them to it), and a bare one's statements would be refused as run outside the transaction they are in.
    from storage.db import Database

    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(run_on)
    await database.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    url = os.environ.get("LIANXIN_DATABASE_URL")
    if not url:
        raise SystemExit("set LIANXIN_DATABASE_URL to the database to migrate")
    asyncio.run(run_from_url(url))
