"""One running bot per SQLite file: an exclusive lock on `<database file>.lock`, held for the bot's lifetime."""

from __future__ import annotations

import os
import sys
from pathlib import Path

if sys.platform == "win32":
    import msvcrt
else:
    import fcntl


class AlreadyRunning(Exception):
    """Another process holds the lock: a bot is running on this database file already."""

    def __init__(self, database: Path) -> None:
        super().__init__(str(database))
        self.database = database


class InstanceLock:
    """Two bots on one SQLite file would both run a sender and a dispatcher, and send messages twice: SQLite has no
    leases that several workers could share (PostgreSQL has). The lock is the operating system's, so it goes with
    the process that holds it, however that process ends; the file itself stays, empty, and is never deleted (a
    deleted lock file could be locked anew by one process while another still holds the old one)."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock at once or raise AlreadyRunning; never waits."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:  # BlockingIOError from flock, PermissionError from msvcrt
            os.close(fd)
            raise AlreadyRunning(self.database) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def _lock(fd: int) -> None:
    if sys.platform == "win32":
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
