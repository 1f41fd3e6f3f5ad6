"""Working days for case deadlines: the Chinese statutory calendar with config.toml's [calendar] dates on top."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import chinese_calendar

from storage.settings import Calendar, Settings

ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Deadline:
    """A day a case must be answered by. Provisional: it was counted through a year whose holidays are not known
    (weekends only), and may move once the State Council announces them."""

    day: date
    provisional: bool


class WorkCalendar:
    """Which days are working days, counted as the 12345 hotline counts them."""

    def __init__(self, config: Calendar) -> None:
        # Copied: the calendar answers from its cache, so later edits to the settings object must not half-apply.
        self._holidays = frozenset(config.holidays)
        self._workdays = frozenset(config.workdays)
        self._configured_years = frozenset(day.year for day in self._holidays | self._workdays)
        # Deadlines are computed for every case list and reminder; the package's lookup scans all its dates each time.
        self._days: dict[date, bool] = {}
        self._covered: dict[int, bool] = {}

    def is_working_day(self, day: date) -> bool:
        _require_date(day)
        answer = self._days.get(day)
        if answer is None:
            answer = self._decide(day)
            self._days[day] = answer
        return answer

    def is_known(self, year: int) -> bool:
        """The package covers the year, or config.toml lists at least one of its dates."""
        return year in self._configured_years or self._package_covers(year)

    def add_working_days(self, start: date, days: int) -> Deadline:
        """0: `start` if it is a working day, else the next one; n: the n-th working day after `start`, which does
        not count itself even when it is a working day."""
        if days < 0:
            raise ValueError(f"working days must be 0 or more, not {days}")
        _require_date(start)
        day = start
        provisional = False
        if days == 0:
            provisional = not self.is_known(start.year)
            if self.is_working_day(start):
                return Deadline(start, provisional)
            days = 1
        while days:
            day += ONE_DAY
            provisional = provisional or not self.is_known(day.year)
            if self.is_working_day(day):
                days -= 1
        return Deadline(day, provisional)

    def working_days_between(self, first: date, last: date) -> int:
        """Working days after `first` up to and including `last`: how late an answer is, or how quick."""
        _require_date(first)
        _require_date(last)
        count = 0
        day = first + ONE_DAY
        while day <= last:
            count += self.is_working_day(day)
            day += ONE_DAY
        return count

    def next_working_day(self, day: date) -> date:
        return self.add_working_days(day, 1).day

    def _decide(self, day: date) -> bool:
        if day in self._workdays:
            return True
        if day in self._holidays:
            return False
        if self._package_covers(day.year):
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def _package_covers(self, year: int) -> bool:
        # Asked rather than read from the package's tables: its only promise is NotImplementedError outside them.
        covered = self._covered.get(year)
        if covered is None:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
                covered = True
            except NotImplementedError:
                covered = False
            self._covered[year] = covered
        return covered


_calendars: dict[tuple[frozenset[date], frozenset[date]], WorkCalendar] = {}


def calendar_of(settings: Settings) -> WorkCalendar:
    """The calendar of these settings; the same object for the same dates, so its cache outlives one request."""
    key = (frozenset(settings.calendar.holidays), frozenset(settings.calendar.workdays))
    calendar = _calendars.get(key)
    if calendar is None:
        calendar = _calendars[key] = WorkCalendar(settings.calendar)
    return calendar


def _require_date(day: date) -> None:
    # A datetime is a date to the type checker, but never equal to one (config dates would not match), and which
    # day it falls on depends on the time zone: the caller converts it with settings.zone first.
    if isinstance(day, datetime):
        raise TypeError(f"expected a local date, not a datetime: {day!r}")
