"""WorkCalendar: deadlines in working days on the 2026 statutory calendar, config.toml overrides, unknown years."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from storage.settings import Calendar, Settings
from storage.workdays import Deadline, WorkCalendar, calendar_of

# The 2026 dates below are those of chinesecalendar 1.11.0 (the State Council's notice for 2026):
# Spring Festival: off Sun 15 - Mon 23 February, make-up working Saturdays 14 and 28 February.
# Mid-Autumn: off Fri 25 - Sun 27 September. National Day: off Thu 1 - Wed 7 October, make-up working
# Sunday 20 September and Saturday 10 October.


@pytest.fixture
def calendar() -> WorkCalendar:
    return WorkCalendar(Calendar())


def test_the_weekdays_used_here_are_right() -> None:
    # Guards the hand-counted expectations below against a wrong weekday.
    assert [date(2026, 11, 27).weekday(), date(2026, 2, 14).weekday(), date(2026, 9, 20).weekday()] == [4, 5, 6]
    assert [date(2026, 10, 1).weekday(), date(2026, 10, 10).weekday(), date(2099, 1, 2).weekday()] == [3, 5, 4]


def test_a_plain_weekend_is_skipped(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2026, 11, 27), 3) == Deadline(date(2026, 12, 2), provisional=False)


def test_national_day_is_skipped_and_its_make_up_saturday_counts(calendar: WorkCalendar) -> None:
    last_before = date(2026, 9, 30)
    assert calendar.add_working_days(last_before, 1).day == date(2026, 10, 8)
    assert calendar.add_working_days(last_before, 2).day == date(2026, 10, 9)
    assert calendar.add_working_days(last_before, 3).day == date(2026, 10, 10)  # Saturday, make-up
    assert calendar.add_working_days(last_before, 4).day == date(2026, 10, 12)


def test_mid_autumn_friday_is_off_and_the_make_up_sunday_is_on(calendar: WorkCalendar) -> None:
    assert not calendar.is_working_day(date(2026, 9, 25))
    assert calendar.add_working_days(date(2026, 9, 24), 1).day == date(2026, 9, 28)
    assert calendar.is_working_day(date(2026, 9, 20))
    assert calendar.add_working_days(date(2026, 9, 19), 1).day == date(2026, 9, 20)


def test_spring_festival_is_skipped_and_its_make_up_saturdays_count(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2026, 2, 13), 1).day == date(2026, 2, 14)
    assert calendar.add_working_days(date(2026, 2, 13), 2).day == date(2026, 2, 24)
    assert not calendar.is_working_day(date(2026, 2, 23))  # a Monday
    assert calendar.is_working_day(date(2026, 2, 28))  # a Saturday


def test_a_complaint_gets_13_working_days_across_a_holiday(calendar: WorkCalendar) -> None:
    # 12, 13, 14 (Sat) | 24, 25, 26, 27, 28 (Sat) | 2, 3, 4, 5, 6 March.
    assert calendar.add_working_days(date(2026, 2, 11), 13) == Deadline(date(2026, 3, 6), provisional=False)
    # 24 | 28, 29, 30 | 8, 9, 10 (Sat) | 12, 13, 14, 15, 16 | 19 October.
    assert calendar.add_working_days(date(2026, 9, 23), 13) == Deadline(date(2026, 10, 19), provisional=False)


def test_counting_from_a_holiday_starts_the_day_after(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2026, 10, 3), 1).day == date(2026, 10, 8)
    assert calendar.add_working_days(date(2026, 10, 3), 2).day == date(2026, 10, 9)


def test_zero_days_is_the_same_working_day_or_the_next(calendar: WorkCalendar) -> None:
    assert calendar.add_working_days(date(2026, 11, 30), 0).day == date(2026, 11, 30)  # Monday
    assert calendar.add_working_days(date(2026, 11, 29), 0).day == date(2026, 11, 30)  # Sunday
    assert calendar.add_working_days(date(2026, 9, 20), 0).day == date(2026, 9, 20)  # make-up Sunday
    assert calendar.add_working_days(date(2026, 10, 1), 0).day == date(2026, 10, 8)  # National Day


def test_negative_days_are_refused(calendar: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="0 or more"):
        calendar.add_working_days(date(2026, 11, 30), -1)


def test_a_configured_holiday_turns_a_weekday_off() -> None:
    calendar = WorkCalendar(Calendar(holidays=[date(2026, 11, 30)]))
    assert not calendar.is_working_day(date(2026, 11, 30))
    assert calendar.add_working_days(date(2026, 11, 27), 1).day == date(2026, 12, 1)


def test_a_configured_workday_turns_a_saturday_on() -> None:
    calendar = WorkCalendar(Calendar(workdays=[date(2026, 11, 28)]))
    assert calendar.is_working_day(date(2026, 11, 28))
    assert calendar.add_working_days(date(2026, 11, 27), 1).day == date(2026, 11, 28)


def test_configured_dates_override_the_package() -> None:
    calendar = WorkCalendar(Calendar(holidays=[date(2026, 10, 10)], workdays=[date(2026, 10, 7)]))
    assert not calendar.is_working_day(date(2026, 10, 10))
    assert calendar.is_working_day(date(2026, 10, 7))


def test_a_year_the_package_does_not_cover_counts_weekends_only(calendar: WorkCalendar) -> None:
    assert not calendar.is_known(2099)
    assert calendar.is_working_day(date(2099, 1, 1))  # New Year's Day, unknown to the calendar
    assert calendar.add_working_days(date(2099, 1, 2), 1) == Deadline(date(2099, 1, 5), provisional=True)


def test_a_deadline_counted_into_an_unknown_year_is_provisional(calendar: WorkCalendar) -> None:
    assert calendar.is_known(2026)
    assert calendar.add_working_days(date(2026, 12, 31), 0) == Deadline(date(2026, 12, 31), provisional=False)
    assert calendar.add_working_days(date(2026, 12, 30), 1) == Deadline(date(2026, 12, 31), provisional=False)
    assert calendar.add_working_days(date(2026, 12, 31), 1) == Deadline(date(2027, 1, 1), provisional=True)


def test_a_configured_date_makes_its_year_known() -> None:
    calendar = WorkCalendar(Calendar(holidays=[date(2099, 1, 1)]))
    assert calendar.is_known(2099)
    assert not calendar.is_known(2098)
    assert not calendar.is_working_day(date(2099, 1, 1))
    assert calendar.add_working_days(date(2098, 12, 30), 1) == Deadline(date(2098, 12, 31), provisional=True)
    # Only the days counted matter: the start's own year does not, for one or more days.
    assert calendar.add_working_days(date(2098, 12, 31), 1) == Deadline(date(2099, 1, 2), provisional=False)
    assert calendar.add_working_days(date(2099, 1, 2), 1) == Deadline(date(2099, 1, 5), provisional=False)


def test_working_days_between(calendar: WorkCalendar) -> None:
    assert calendar.working_days_between(date(2026, 9, 30), date(2026, 10, 12)) == 4  # 8, 9, 10, 12 October
    assert calendar.working_days_between(date(2026, 11, 27), date(2026, 11, 30)) == 1  # Friday to Monday
    assert calendar.working_days_between(date(2026, 11, 28), date(2026, 11, 29)) == 0  # the weekend
    assert calendar.working_days_between(date(2026, 11, 30), date(2026, 11, 30)) == 0
    assert calendar.working_days_between(date(2026, 12, 2), date(2026, 11, 30)) == 0


@pytest.mark.parametrize("start", [date(2026, 2, 11), date(2026, 9, 19), date(2026, 10, 3), date(2026, 12, 20)])
def test_working_days_between_undoes_add_working_days(calendar: WorkCalendar, start: date) -> None:
    for days in range(1, 25):
        assert calendar.working_days_between(start, calendar.add_working_days(start, days).day) == days


def test_next_working_day(calendar: WorkCalendar) -> None:
    assert calendar.next_working_day(date(2026, 9, 30)) == date(2026, 10, 8)
    assert calendar.next_working_day(date(2026, 9, 19)) == date(2026, 9, 20)  # make-up Sunday
    assert calendar.next_working_day(date(2026, 11, 30)) == date(2026, 12, 1)  # strictly after a working day


def test_a_datetime_is_refused(calendar: WorkCalendar) -> None:
    with pytest.raises(TypeError, match="local date"):
        calendar.is_working_day(datetime(2026, 10, 10, 9, 0))
    with pytest.raises(TypeError, match="local date"):
        calendar.add_working_days(datetime(2026, 10, 10, 9, 0), 1)


def test_calendar_of_settings_uses_their_dates_and_is_reused() -> None:
    settings = Settings(calendar=Calendar(holidays=[date(2026, 11, 30)]))
    calendar = calendar_of(settings)
    assert not calendar.is_working_day(date(2026, 11, 30))
    assert calendar_of(Settings(calendar=Calendar(holidays=[date(2026, 11, 30)]))) is calendar
    assert calendar_of(Settings()).is_working_day(date(2026, 11, 30))
