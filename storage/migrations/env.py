"""Alembic environment: runs on the application's connection, or on LIANXIN_DATABASE_URL for developers."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
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
    from storage.db import normalise_url

    engine = create_async_engine(normalise_url(url))
    async with engine.begin() as connection:
        await connection.run_sync(run_on)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_on(connection)
else:
    url = os.environ.get("LIANXIN_DATABASE_URL")
    if not url:
        raise SystemExit("set LIANXIN_DATABASE_URL to the database to migrate")
    asyncio.run(run_from_url(url))
