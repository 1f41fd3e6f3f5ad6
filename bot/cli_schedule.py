"""(being built) The command line's scheduler commands: lianxin schedule, lianxin scheduler."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the command line."""
