"""`lianxin run` in a process of its own, pointed at a fake Bot API server: for the reliability tests and the
benchmarks, which must kill it, or keep its work off the fake server's event loop."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.fakes.telegram_api import FakeTelegramServer

ROOT = Path(__file__).resolve().parents[2]


def environment(server: FakeTelegramServer, files: Path, **settings: str) -> dict[str, str]:
    """This process's environment without any LIANXIN_ setting of its own, plus the fake server's address and
    token, and `settings` as LIANXIN_<NAME> variables (delivery__sender_concurrency="8")."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANXIN_")}
    env.update(
        LIANXIN_TELEGRAM_TOKEN=server.token,
        LIANXIN_TELEGRAM__API_URL=server.base_url,
        LIANXIN_TELEGRAM__FILE_URL=server.base_file_url,
        LIANXIN_TELEGRAM__FILES_DIR=str(files),
        PYTHONIOENCODING="utf-8",
    )
    env.update({f"LIANXIN_{name.upper()}": value for name, value in settings.items()})
    return env


async def start(database: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    """`lianxin run --db DATABASE`; its standard error goes to `log` (appended)."""
    with log.open("ab") as stderr:  # the child has its own copy of the file
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from bot.cli import main; main()",
            "run",
            "--db",
            database,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


async def stop(process: asyncio.subprocess.Process, within: float = 20.0) -> None:
    """SIGTERM, and SIGKILL if it has not stopped within the time."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
