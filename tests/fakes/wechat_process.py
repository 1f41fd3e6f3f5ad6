"""`lianxin run` in a process of its own with only WeChat configured, pointed at a fake puppet service in the test's
(or the benchmark's) process: for the tests that kill it, and the benchmark that keeps its work off the fake's
event loop. Starting and stopping it is tests/fakes/bot_process.py's."""

from __future__ import annotations

import os
from pathlib import Path

from tests.fakes.wechat_puppet import FakePuppet

# Kept from this process's environment: where the scheduler writes digests (tests/conftest.py sets a temporary one).
KEPT = ("LIANXIN_DIGEST__FILES_DIR",)


def environment(fake: FakePuppet, files: Path, **settings: str) -> dict[str, str]:
    """This process's environment without its LIANXIN_ settings (no Telegram token: WeChat alone), plus the fake's
    address and token over plain HTTP/2, and `settings` as LIANXIN_<NAME> variables (wechat__per_minute="6000")."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("LIANXIN_") or key in KEPT}
    env.update(
        LIANXIN_WECHAT__ENDPOINT=f"127.0.0.1:{fake.port}",
        LIANXIN_WECHAT__TLS="false",
        LIANXIN_WECHAT_TOKEN=fake.token,
        LIANXIN_WECHAT__FILES_DIR=str(files),
        PYTHONIOENCODING="utf-8",
    )
    env.update({f"LIANXIN_{name.upper()}": value for name, value in settings.items()})
    return env
