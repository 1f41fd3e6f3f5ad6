"""One active scheduler per deployment. On PostgreSQL the instance holding a session advisory lock leads; when it
dies its connection closes, the lock goes with it, and another instance takes it at its next tick. On SQLite the
scheduler runs in the bot's one process (the instance lock keeps a second bot off the file), so it always leads;
even two would not send an item twice, since claiming one marks it in the transaction that sends it."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import Database

log = logging.getLogger(__name__)
LOCK_KEY = 0x4C58_5343  # "LXSC": the advisory lock only the scheduler takes


class Leadership:
    """Whether this instance is the scheduler that acts; asked at every tick."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: AsyncConnection | None = None

    @property
    def leading(self) -> bool:
        return self.db.is_sqlite or self._connection is not None

    async def hold(self) -> bool:
        """Keep the lock (checking that its connection still lives) or try to take it."""
        if self.db.is_sqlite:
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(sa.text("SELECT 1"))
                await self._connection.commit()
                return True
            except SQLAlchemyError:
                log.warning("scheduler: the connection that held the leadership is gone")
                await self._drop()
        connection = await self.db.engine.connect()
        try:
            taken = (await connection.execute(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY)))).scalar_one()
            await connection.commit()
        except SQLAlchemyError:
            await connection.close()
            raise
        if not taken:
            await connection.close()
            return False
        self._connection = connection
        log.info("scheduler: this instance leads")
        return True

    async def release(self) -> None:
        if self._connection is None:
            return
        try:
            await self._connection.execute(sa.select(sa.func.pg_advisory_unlock(LOCK_KEY)))
            await self._connection.commit()
        except SQLAlchemyError:
            pass  # closing the connection releases it as well
        await self._drop()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close()
            except SQLAlchemyError:
                await connection.invalidate()
