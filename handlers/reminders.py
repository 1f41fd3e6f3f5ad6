"""The visit-quota reminders as outbox payloads in the reader's language, built from storage figures: the monthly
figures, the nudge to a representative behind the pace, the reminder of a centralized round about to close."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers.dialogs import COMMAND_BUTTON
from handlers.events import Button, Reply
from handlers.i18n import t
from handlers.progress import Voice, progress_text, round_label, suggestion_lines
from storage.records.households import HouseholdBrief
from storage.records.visits import Progress
from storage.settings import Settings


@dataclass(frozen=True)
class Reader:
    """Whom a reminder is worded for, outside any conversation: their language and the settings."""

    language: str
    settings: Settings

    def t(self, key: str, /, **params: Any) -> str:
        return t(self.language, key, **params)


def day_text(voice: Voice, day: date) -> str:
    return voice.t("reminders.date", year=day.year, month=day.month, day=day.day)


def _button(voice: Voice, command: str, label_key: str) -> Button:
    # Pressing it is typing the command (handlers.router), so the policy answers as for anything typed.
    return Button(f"{COMMAND_BUTTON}/{command}", voice.t(label_key))


def monthly(voice: Voice, progress: Progress, *, today: date, last_year: Progress | None = None) -> dict[str, Any]:
    """The month's figures as /progress says them (households, pace, in-home share); in January also how the year
    before ended, since the new year's figures have hardly begun."""
    lines = [voice.t("reminders.monthly", date=day_text(voice, today))]
    if last_year is not None:
        lines.append(
            voice.t("reminders.last_year", year=last_year.year, count=last_year.households, quota=last_year.quota)
        )
    lines.append(progress_text(voice, progress))
    lines.append(voice.t("reminders.monthly_more"))
    return Reply("\n".join(lines), (_button(voice, "progress", "reminders.button.progress"),)).to_payload()


def nudge(
    voice: Voice,
    progress: Progress,
    *,
    today: date,
    suggestions: Sequence[HouseholdBrief],
    looked_for: bool,
) -> dict[str, Any]:
    """How far behind the pace, and the focus households of their areas not visited this year (`looked_for`: some
    were asked for; none found means every one was visited)."""
    lines = [
        voice.t(
            "reminders.nudge",
            date=day_text(voice, today),
            expected=progress.expected_by_now,
            count=progress.households,
            behind=-progress.ahead_by,
        )
    ]
    if suggestions:
        lines.append(voice.t("reminders.nudge_households", count=len(suggestions)))
        lines.extend(suggestion_lines(voice, suggestions))
    elif looked_for:
        lines.append(voice.t("reminders.nudge_no_households"))
    lines.append(voice.t("reminders.nudge_more"))
    buttons = (
        _button(voice, "visit", "reminders.button.visit"),
        _button(voice, "progress", "reminders.button.progress"),
    )
    return Reply("\n".join(lines), buttons).to_payload()


def round_reminder(voice: Voice, *, round_code: str, last_day: date, today: date) -> dict[str, Any]:
    """The round, when it closes, and how to log a visit of it (the visit flow's centralized choice)."""
    label = round_label(voice, round_code)
    lines = [
        voice.t("reminders.round", round=label, date=day_text(voice, last_day), days=(last_day - today).days),
        voice.t("reminders.round_how", choice=voice.t("visit.centralized", round=label)),
    ]
    return Reply("\n".join(lines), (_button(voice, "visit", "reminders.button.visit"),)).to_payload()
