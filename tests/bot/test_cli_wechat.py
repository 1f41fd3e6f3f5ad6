"""`lianxin run` with WeChat (alone, and beside Telegram in one process) and `lianxin wechat status`, as real
processes against the fake puppet service and the fake Bot API server."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlmodel import select

from storage.db import Database
from storage.models import InboxEvent
from tests.bot.test_cli import ROOT, child_environment
from tests.bot.wechat_harness import RESIDENT
from tests.factories import District
from tests.fakes import bot_process
from tests.fakes.telegram_api import FakeTelegramServer
from tests.fakes.wechat_puppet import FakePuppet

TOKEN = "puppet_test_5f0c1d2e-secret"


def wechat_environment(fake: FakePuppet, files: Path, **extra: str) -> dict[str, str]:
    env = child_environment()
    env.update(
        LIANXIN_WECHAT__ENDPOINT=f"127.0.0.1:{fake.port}",
        LIANXIN_WECHAT__TLS="false",
        LIANXIN_WECHAT_TOKEN=fake.token,
        LIANXIN_WECHAT__FILES_DIR=str(files),
        LIANXIN_WECHAT__PER_CHAT_PER_SECOND="30",
        LIANXIN_WECHAT__PER_MINUTE="6000",
        LIANXIN_WECHAT__RECONNECT_MIN_SECONDS="0.05",
        **extra,
    )
    return env


async def lianxin(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from bot.cli import main; main()",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_run_serves_telegram_and_wechat_in_one_process_and_status_reports_it(
    db: Database, database_url: str, district: District, tmp_path: Path
) -> None:
    async with FakeTelegramServer() as telegram, FakePuppet(token=TOKEN) as fake:
        fake.login()
        env = bot_process.environment(telegram, tmp_path / "tg") | wechat_environment(fake, tmp_path / "wx")
        log = tmp_path / "run.log"
        process = await bot_process.start(database_url, env, log)
        try:
            await fake.wait_stream(within=60)
            fake.say(RESIDENT, "你好")
            telegram.user_sends_text(8001, "你好")
            await fake.wait_sent(RESIDENT, 1, within=30)
            deadline = asyncio.get_running_loop().time() + 30
            while not telegram.sent(8001):
                assert asyncio.get_running_loop().time() < deadline, log.read_text()
                await asyncio.sleep(0.05)
            assert "写信" in fake.sent_to(RESIDENT)[0].text and "写信" in telegram.sent(8001)[0]["plain_text"]

            code, out, err = await lianxin("wechat", "status", "--db", database_url, env=env)
            assert code == 0, f"{out}\n{err}"
            assert f"网关：127.0.0.1:{fake.port}" in out and "网关应答正常" in out
            assert "状态：已登录（连心）" in out and "最近一次收到事件" in out
        finally:
            await bot_process.stop(process)
        assert process.returncode == 0, log.read_text()
        text = log.read_text()
        assert TOKEN not in text and "你好" not in text and RESIDENT not in text
        async with db.read() as session:
            channels = sorted({event.channel for event in (await session.exec(select(InboxEvent))).all()})
        assert channels == ["telegram", "wechat"]
        code, out, _err = await lianxin("wechat", "status", "--db", database_url, env=env)
        assert "状态：渠道已停止" in out


async def test_wechat_alone_and_its_refusals(
    db: Database, database_url: str, district: District, tmp_path: Path
) -> None:
    async with FakePuppet(token=TOKEN) as fake:
        fake.login()
        env = wechat_environment(fake, tmp_path / "wx")
        process = await bot_process.start(database_url, env, tmp_path / "run.log")
        try:
            await fake.wait_stream(within=60)
            fake.say(RESIDENT, "hello")
            [answer] = await fake.wait_sent(RESIDENT, 1, within=30)
            assert answer.text
        finally:
            await bot_process.stop(process)
        # No token: refused before anything starts, without a traceback.
        no_token = {key: value for key, value in env.items() if key != "LIANXIN_WECHAT_TOKEN"}
        code, _out, err = await lianxin("run", "--db", database_url, env=no_token)
        assert code == 2 and "LIANXIN_WECHAT_TOKEN" in err and "Traceback" not in err
        # A gateway that does not answer: status says so and fails.
    silent = wechat_environment(fake, tmp_path / "wx")
    code, out, _err = await lianxin("wechat", "status", "--db", database_url, env=silent)
    assert code == 1 and "网关没有应答" in out
    # A token written into config.toml is refused: secrets come from the environment only.
    config = tmp_path / "config.toml"
    config.write_text(
        (ROOT / "config.toml")
        .read_text(encoding="utf-8")
        .replace('endpoint = ""', 'endpoint = "127.0.0.1:1"\ntoken = "x"', 1),
        encoding="utf-8",
    )
    code, _out, err = await lianxin("wechat", "status", "--db", database_url, "--config", str(config), env=silent)
    assert code != 0 and "token" in err and "LIANXIN_" in err
