"""The typed settings object: config.toml, overridden by LIANXIN_* environment variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Sequence
from datetime import date, time, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from storage.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config.toml"
# Settings that may carry passwords or tokens: a file is copied, shared and committed; the environment is not.
SECRETS = frozenset({"database_url", "telegram_token", "telegram_webhook_secret", "wechat_token", "token"})
Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")


class Section(BaseModel):
    """A part of config.toml. A misspelt key is an error, not a silently ignored line."""

    model_config = ConfigDict(extra="forbid")


class Label(Section):
    """A configured code with its label in each language."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def label(self, language: str) -> str:
        return self.en if language == "en" else self.zh


class Category(Label):
    """A household category. A sensitive one (hardship, repeat petitioner) is personal information of a sensitive
    kind under PIPL: shown only to those the policy lets read it."""

    sensitive: bool = False


class VisitMode(Label):
    in_home: bool = False


class General(Section):
    time_zone: str = "Asia/Shanghai"
    default_language: Language = "zh-CN"
    dialog_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    invitation_days: int = Field(default=14, ge=1, le=365)
    bot_username: str = Field(default="lianxin_demo_bot", pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise ValueError("must be an IANA time zone such as Asia/Shanghai") from error
        return value


class Quota(Section):
    households_per_year: int = Field(default=100, ge=1, le=10_000)
    min_in_home_share: float = Field(default=0.3333, ge=0.0, le=1.0)
    centralized_rounds_per_year: int = Field(default=2, ge=0, le=12)


def _default_modes() -> list[VisitMode]:
    return [
        VisitMode(code="home", zh="入户", en="In-home", in_home=True),
        VisitMode(code="forum", zh="座谈", en="Forum"),
        VisitMode(code="receive", zh="接访", en="Reception"),
        VisitMode(code="go_down", zh="下访", en="Outreach"),
        VisitMode(code="appointment", zh="约访", en="By appointment"),
        VisitMode(code="phone", zh="电话", en="Phone"),
    ]


class Visits(Section):
    max_note_length: int = Field(default=2000, ge=10, le=100_000)
    search_results: int = Field(default=5, ge=1, le=9)
    progress_suggestions: int = Field(default=10, ge=0, le=50)
    modes: list[VisitMode] = Field(default_factory=_default_modes, min_length=1)

    @model_validator(mode="after")
    def _one_in_home_mode(self) -> Visits:
        if not any(mode.in_home for mode in self.modes):
            raise ValueError("at least one visit mode must have in_home = true")
        _unique_labels(self.modes)
        return self

    def mode(self, code: str) -> VisitMode | None:
        return next((mode for mode in self.modes if mode.code == code), None)


def _default_focus_groups() -> list[Category]:
    return [
        Category(code="model", zh="先进模范", en="Model worker"),
        Category(code="youth", zh="青年", en="Youth"),
        Category(code="hardship", zh="困难群体", en="Hardship", sensitive=True),
        Category(code="four_olds", zh="四老", en="Four olds"),
    ]


def _default_must_visit() -> list[Category]:
    return [
        Category(code="party_center", zh="党员中心户", en="Party-member central household"),
        Category(code="entrepreneur", zh="创业创新带头人", en="Entrepreneurship leader"),
        Category(code="four_olds_member", zh="四老对象", en="Four-olds member"),
        Category(code="repeat_petitioner", zh="重信重访群众", en="Repeat petitioner", sensitive=True),
        Category(code="special_hardship", zh="特殊困难群众", en="Special hardship", sensitive=True),
    ]


class Households(Section):
    focus_groups: list[Category] = Field(default_factory=_default_focus_groups)
    must_visit: list[Category] = Field(default_factory=_default_must_visit)

    @model_validator(mode="after")
    def _distinct_codes(self) -> Households:
        _unique_labels([*self.focus_groups, *self.must_visit])
        return self

    def categories(self) -> list[Category]:
        """Focus groups then must-visit categories: every category a household can carry."""
        return [*self.focus_groups, *self.must_visit]

    def category(self, code: str) -> Category | None:
        return next((label for label in self.categories() if label.code == code), None)

    def sensitive(self) -> frozenset[str]:
        """The codes of the sensitive categories."""
        return frozenset(label.code for label in self.categories() if label.sensitive)


def _unique_labels(labels: Sequence[Label]) -> None:
    seen: set[str] = set()
    for label in labels:
        if label.code in seen:
            raise ValueError(f"code {label.code!r} appears twice")
        seen.add(label.code)


class Calendar(Section):
    """Working days: the Chinese statutory calendar (the `chinesecalendar` package) with these dates on top: days
    off it does not know, and make-up working days (调休). A year neither covers counts weekends only."""

    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_both(self) -> Calendar:
        both = sorted(set(self.holidays) & set(self.workdays))
        if both:
            raise ValueError(f"{both[0].isoformat()} is listed both as a holiday and as a working day")
        return self


TimeLimitClass = Literal["emergency", "consultation", "help", "complaint"]


class CaseCategory(Label):
    """A kind of concern: its time-limit class and the department (承办单位, a staff unit) it goes to by default;
    empty: the liaison office or the representative who takes it on decides."""

    time_limit: TimeLimitClass = "help"
    department: str = Field(default="", max_length=100)


def _default_case_categories() -> list[CaseCategory]:
    return [
        CaseCategory(code="environment", zh="环境卫生", en="Environment and sanitation", department="区城管局"),
        CaseCategory(code="housing", zh="住房物业", en="Housing and property", department="区住建局"),
        CaseCategory(code="roads", zh="道路交通", en="Roads and transport", department="区交通运输局"),
        CaseCategory(code="welfare", zh="社会保障", en="Welfare and assistance", department="区民政局"),
        CaseCategory(code="health", zh="医疗卫生", en="Health", department="区卫健局"),
        CaseCategory(code="education", zh="教育", en="Education", department="区教育局"),
        CaseCategory(code="employment", zh="就业创业", en="Jobs and business", department="区人社局"),
        CaseCategory(code="consultation", zh="政策咨询", en="Policy question", time_limit="consultation"),
        CaseCategory(code="complaint", zh="投诉", en="Complaint", time_limit="complaint"),
        CaseCategory(
            code="safety", zh="安全隐患", en="Safety hazard", time_limit="emergency", department="区应急管理局"
        ),
        CaseCategory(code="other", zh="其他", en="Other"),
    ]


def _default_time_limits() -> dict[TimeLimitClass, int]:
    return {"emergency": 0, "consultation": 3, "help": 3, "complaint": 13}


class Cases(Section):
    """Residents' concerns as cases (登记、整理、反馈、处置), run as the 12345 hotline runs them."""

    number_prefix: str = Field(default="LX", pattern=r"^[A-Z]{1,6}$")
    # Working days to answer, by time-limit class; 0: the same day.
    time_limits: dict[TimeLimitClass, int] = Field(default_factory=_default_time_limits)
    response_working_days: int = Field(default=1, ge=0, le=30)
    escalate_after_working_days: int = Field(default=5, ge=1, le=60)
    reopen_limit: int = Field(default=1, ge=0, le=5)
    auto_close_days: int = Field(default=7, ge=1, le=90)
    # Sorted without the liaison office when the category has a default department: assigned to it at once.
    auto_sort: bool = True
    max_text_length: int = Field(default=2000, ge=50, le=20_000)
    # Local time of each working day's chasing and escalations (the scheduler's).
    chase_at: time = time(9, 0)
    categories: list[CaseCategory] = Field(default_factory=_default_case_categories, min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> Cases:
        _unique_labels(self.categories)
        missing = [name for name in ("emergency", "consultation", "help", "complaint") if name not in self.time_limits]
        if missing:
            raise ValueError(f"time_limits misses {', '.join(missing)}")
        if any(days < 0 or days > 60 for days in self.time_limits.values()):
            raise ValueError("time_limits are working days from 0 to 60")
        return self

    def category(self, code: str) -> CaseCategory | None:
        return next((label for label in self.categories if label.code == code), None)

    def days_for(self, time_limit: str) -> int:
        """The working days a case of this time-limit class has to be answered (an unknown class: help's)."""
        by_class = {str(name): days for name, days in self.time_limits.items()}
        return by_class.get(time_limit, by_class["help"])


class ProposalKind(Label):
    """A kind of proposal and the conditions it must meet before it is submitted."""

    min_cosigners: int = Field(default=0, ge=0, le=50)  # co-signers who accepted, besides the author
    same_level: bool = False  # co-signers must be representatives of the author's level
    min_body_length: int = Field(default=20, ge=1, le=5000)
    needs_attachment: bool = False
    answer_working_days: int = Field(default=40, ge=1, le=250)  # from assignment to the answer


def _default_proposal_kinds() -> list[ProposalKind]:
    return [
        ProposalKind(code="proposal", zh="提案", en="Proposal", min_cosigners=1, min_body_length=50),
        ProposalKind(code="motion", zh="提议", en="Motion", min_body_length=20, answer_working_days=30),
        ProposalKind(
            code="inquiry",
            zh="质询案",
            en="Inquiry",
            min_cosigners=4,
            same_level=True,
            min_body_length=50,
            answer_working_days=15,
        ),
    ]


class Proposals(Section):
    """Proposals, motions and inquiries (提案 / 提议 / 质询案): filing conditions, review, answers."""

    number_prefix: str = Field(default="TA", pattern=r"^[A-Z]{1,6}$")
    kinds: list[ProposalKind] = Field(default_factory=_default_proposal_kinds, min_length=1)
    max_title_length: int = Field(default=60, ge=5, le=100)
    max_body_length: int = Field(default=5000, ge=50, le=20_000)
    max_cosigners: int = Field(default=20, ge=1, le=100)
    max_attachments: int = Field(default=5, ge=0, le=20)
    # Working days a second answer has, after a dissatisfied evaluation.
    second_answer_working_days: int = Field(default=15, ge=1, le=120)
    escalate_after_working_days: int = Field(default=5, ge=1, le=60)
    # Days an evaluation may wait before the proposal closes as it stands.
    auto_close_days: int = Field(default=15, ge=1, le=90)

    @model_validator(mode="after")
    def _unique(self) -> Proposals:
        _unique_labels(self.kinds)
        return self

    def kind(self, code: str) -> ProposalKind | None:
        return next((kind for kind in self.kinds if kind.code == code), None)


class Briefings(Section):
    """Intra-party briefings (党内情况通报) and opinion requests (征求意见)."""

    max_body_length: int = Field(default=5000, ge=50, le=20_000)
    # Days after which the sender is offered the list of those who have not read a briefing, with a reminder.
    not_read_days: int = Field(default=3, ge=1, le=60)
    # An opinion request's default deadline, in days, and when those who have not answered are reminded.
    opinion_days: int = Field(default=7, ge=1, le=90)
    opinion_remind_days_before: int = Field(default=1, ge=0, le=30)
    max_questions: int = Field(default=10, ge=1, le=30)
    max_options: int = Field(default=9, ge=2, le=9)
    max_answer_length: int = Field(default=2000, ge=10, le=20_000)


class ActivityKind(Label):
    """A form of activity a representative logs: one of the "five ones" (五个一) or another."""

    five_ones: bool = False
    practical: bool = False  # a practical thing done for the people: counts in the digest's Z


def _default_activity_kinds() -> list[ActivityKind]:
    return [
        ActivityKind(code="research_report", zh="调研报告", en="Research report", five_ones=True),
        ActivityKind(code="practical_thing", zh="办实事", en="Practical thing done", five_ones=True, practical=True),
        ActivityKind(code="petition_resolved", zh="化解信访案件", en="Petition case resolved", five_ones=True),
        ActivityKind(code="public_welfare", zh="公益活动", en="Public-welfare activity", five_ones=True),
        ActivityKind(code="hardship_helped", zh="结对帮扶困难户", en="Hardship household helped", five_ones=True),
        ActivityKind(code="inspection", zh="视察调研", en="Inspection and research"),
        ActivityKind(code="council", zh="议事会", en="Council meeting"),
        ActivityKind(code="heart_talk", zh="民心恳谈", en="Heart-to-heart talk"),
        ActivityKind(code="themed_practice", zh="主题实践", en="Themed practice"),
    ]


class Activities(Section):
    """Activities representatives log, with evidence, and their public commitments (承诺制)."""

    kinds: list[ActivityKind] = Field(default_factory=_default_activity_kinds, min_length=1)
    max_summary_length: int = Field(default=2000, ge=10, le=20_000)
    max_evidence: int = Field(default=6, ge=0, le=20)
    max_commitments: int = Field(default=10, ge=1, le=50)  # a year's commitments per representative

    @model_validator(mode="after")
    def _unique(self) -> Activities:
        _unique_labels(self.kinds)
        return self

    def kind(self, code: str) -> ActivityKind | None:
        return next((kind for kind in self.kinds if kind.code == code), None)


class Events(Section):
    """Trainings, collective activities and centralized visit rounds the liaison office schedules."""

    # How near the event's place a shared location must be to check in.
    check_in_radius_m: int = Field(default=500, ge=10, le=50_000)
    # Check-in opens this long before the start and closes at the end.
    check_in_opens_minutes: int = Field(default=60, ge=0, le=24 * 60)
    # Local time of the day-before reminder.
    eve_at: time = time(17, 0)
    # Group rules: a group's members attend at least this many a year.
    trainings_per_year: int = Field(default=1, ge=0, le=52)
    collective_per_year: int = Field(default=2, ge=0, le=52)


class Telegram(Section):
    api_url: str = Field(default="https://api.telegram.org/bot", pattern=r"^https?://")
    file_url: str = Field(default="https://api.telegram.org/file/bot", pattern=r"^https?://")
    poll_timeout_seconds: int = Field(default=30, ge=0, le=50)
    request_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    files_dir: Path = Path("files")
    max_file_mb: int = Field(default=20, ge=1, le=20)
    ops_chat_id: int = 0
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)


class WeChat(Section):
    """The Wechaty puppet service Lianxin talks to over gRPC (the token is a secret: LIANXIN_WECHAT_TOKEN)."""

    endpoint: str = Field(default="", pattern=r"^$|^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$")
    tls: bool = True
    ca_file: str = ""
    server_name: str = ""
    request_timeout_seconds: float = Field(default=15.0, gt=0, le=300)
    files_dir: Path = Path("files")
    max_file_mb: int = Field(default=20, ge=1, le=100)
    chunk: int = Field(default=1500, ge=100, le=10_000)
    type_numbers: Literal["puppet", "proto"] = "puppet"
    qr_link: str = "https://wechaty.js.org/qrcode/"
    per_chat_per_second: float = Field(default=1.0, gt=0, le=30)
    per_minute: int = Field(default=20, ge=1, le=600_000)
    reconnect_min_seconds: float = Field(default=1.0, gt=0, le=600)
    reconnect_max_seconds: float = Field(default=60.0, gt=0, le=3600)
    watchdog_seconds: float = Field(default=60.0, gt=0, le=3600)
    down_alert_minutes: float = Field(default=5.0, ge=0, le=1440)
    ops_chat: str = Field(default="", max_length=64)
    groups: list[str] = Field(default_factory=list)

    @property
    def enabled(self) -> bool:
        return bool(self.endpoint)


class Delivery(Section):
    private_per_second: float = Field(default=0.95, gt=0, le=30)
    private_burst: int = Field(default=3, ge=1, le=30)
    overall_per_second: float = Field(default=30, gt=0, le=1000)
    group_per_minute: int = Field(default=19, ge=1, le=1000)
    send_attempts: int = Field(default=3, ge=1, le=20)
    retry_seconds: float = Field(default=1.0, gt=0, le=3600)
    sender_concurrency: int = Field(default=8, ge=1, le=100)
    inbox_attempts: int = Field(default=5, ge=1, le=100)
    handler_batch: int = Field(default=16, ge=1, le=500)
    handler_concurrency: int = Field(default=4, ge=1, le=100)
    lease_seconds: int = Field(default=60, ge=1, le=3600)
    keep_days: int = Field(default=30, ge=2, le=3650)


class Limits(Section):
    """What one person may send, so that one chat (or a script behind it) cannot crowd out everyone else."""

    messages_per_minute: int = Field(default=20, ge=1, le=1_000_000)
    mailbox_items_per_day: int = Field(default=5, ge=1, le=1000)


class Card(Section):
    """The contact card (连心卡) drawn by `lianxin card`."""

    font: str = ""  # a font file with Chinese glyphs; empty: found with fontconfig or at well-known paths


Lateness = Literal[
    "quota", "nudge", "round", "reception", "cases", "digest", "proposals", "briefings", "opinions", "events"
]


def _default_lateness() -> dict[Lateness, int]:
    return {
        "quota": 72,
        "nudge": 72,
        "round": 48,
        "reception": 24,
        "cases": 48,
        "digest": 48,
        "proposals": 48,
        "briefings": 48,
        "opinions": 24,
        "events": 12,
    }


class Scheduler(Section):
    """The tick that turns due items into messages (scheduler/)."""

    tick_seconds: int = Field(default=15, ge=1, le=300)
    batch: int = Field(default=200, ge=1, le=10_000)  # due items claimed per transaction
    # Local time when non-urgent messages are held back, "start-end" across midnight or not; "" for none.
    quiet_hours: str = Field(default="21:00-08:00", pattern=r"^$|^\d{1,2}:\d{2}-\d{1,2}:\d{2}$")
    # Hours after its due time a kind of item may still go out; later it is skipped, with the reason.
    max_lateness_hours: dict[Lateness, int] = Field(default_factory=_default_lateness)

    @model_validator(mode="after")
    def _complete(self) -> Scheduler:
        missing = [kind for kind in _default_lateness() if kind not in self.max_lateness_hours]
        if missing:
            raise ValueError(f"max_lateness_hours misses {', '.join(missing)}")
        if any(hours < 1 or hours > 24 * 60 for hours in self.max_lateness_hours.values()):
            raise ValueError("max_lateness_hours are from 1 to 1440")
        self.quiet()
        return self

    def quiet(self) -> tuple[time, time] | None:
        """Quiet hours as (start, end) local times; None when there are none."""
        if not self.quiet_hours:
            return None
        start, _, end = self.quiet_hours.partition("-")
        try:
            return time.fromisoformat(start.zfill(5)), time.fromisoformat(end.zfill(5))
        except ValueError as error:
            raise ValueError(f"quiet_hours {self.quiet_hours!r} are not two times of day") from error

    def lateness_hours(self, kind: str) -> int:
        by_kind = {str(name): hours for name, hours in self.max_lateness_hours.items()}
        return by_kind.get(kind, 24)


class Reminders(Section):
    """What representatives are reminded of about their visit quota."""

    # Local time of the monthly figures, on the first working day of the month.
    monthly_at: time = time(9, 0)
    # Households behind an even pace through the year before a representative is nudged.
    behind_margin: int = Field(default=10, ge=0, le=1000)
    # Unvisited focus households named in a nudge.
    nudge_households: int = Field(default=5, ge=0, le=20)
    # Days before a centralized round (a half-year) closes when those without a visit in it are reminded.
    round_days_before: int = Field(default=14, ge=1, le=90)


class Reception(Section):
    """Reception days (接待日): when they are announced."""

    # Local time of the day before, when the representatives on duty and the subscribed residents are told.
    eve_at: time = time(17, 0)
    # Local time on the day itself, for the representatives on duty.
    morning_at: time = time(8, 0)
    # How many coming reception days /reception shows.
    shown: int = Field(default=5, ge=1, le=20)


class Digest(Section):
    """The leaders' weekly digest."""

    weekday: int = Field(default=1, ge=1, le=7)  # ISO: 1 is Monday
    at: time = time(8, 30)
    # Representatives behind pace named in the text (all of them are in the spreadsheet).
    behind_named: int = Field(default=5, ge=0, le=50)
    # Where the chart and the spreadsheet are written before they are sent (relative to the working directory).
    files_dir: Path = Path("digests")


class Settings(BaseSettings):
    """Everything configurable. Secrets come only from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="LIANXIN_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    database_url: str | None = None
    telegram_token: str | None = None
    telegram_webhook_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{16,256}$")
    wechat_token: str | None = None
    general: General = Field(default_factory=General)
    quota: Quota = Field(default_factory=Quota)
    visits: Visits = Field(default_factory=Visits)
    households: Households = Field(default_factory=Households)
    telegram: Telegram = Field(default_factory=Telegram)
    wechat: WeChat = Field(default_factory=WeChat)
    delivery: Delivery = Field(default_factory=Delivery)
    limits: Limits = Field(default_factory=Limits)
    card: Card = Field(default_factory=Card)
    calendar: Calendar = Field(default_factory=Calendar)
    cases: Cases = Field(default_factory=Cases)
    scheduler: Scheduler = Field(default_factory=Scheduler)
    reminders: Reminders = Field(default_factory=Reminders)
    reception: Reception = Field(default_factory=Reception)
    digest: Digest = Field(default_factory=Digest)
    proposals: Proposals = Field(default_factory=Proposals)
    briefings: Briefings = Field(default_factory=Briefings)
    activities: Activities = Field(default_factory=Activities)
    events: Events = Field(default_factory=Events)

    @property
    def zone(self) -> tzinfo:
        return ZoneInfo(self.general.time_zone)


def load_settings(path: Path | None = None) -> Settings:
    """Read config.toml (or `path`, or $LIANXIN_CONFIG) once; raise ConfigError naming key, value and rule."""
    config_path = path or Path(os.environ.get("LIANXIN_CONFIG", DEFAULT_CONFIG))
    if not config_path.is_file():
        raise ConfigError(f"configuration file not found: {config_path}")
    try:
        written = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{config_path}: not valid TOML: {error}") from None
    for key in _secret_keys(written):
        raise ConfigError(
            f"{config_path}: {key} is a secret and is read only from the environment "
            f"(LIANXIN_{key.split('.')[-1].upper()}); remove it from the file"
        )

    class FileSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=config_path)
            return (init_settings, env_settings, toml)

    try:
        return Settings.model_validate(FileSettings().model_dump())
    except ValidationError as error:
        raise ConfigError(describe_invalid(config_path, error)) from None
    except ValueError as error:  # malformed TOML
        raise ConfigError(f"{config_path}: {error}") from None


def _secret_keys(table: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted names of secret keys anywhere in a parsed file, whatever their case (pydantic ignores case)."""
    found: list[str] = []
    for key, value in table.items():
        if key.lower() in SECRETS:
            found.append(prefix + key)
        if isinstance(value, dict):
            found += _secret_keys(value, f"{prefix}{key}.")
    return found


def describe_invalid(config_path: Path, error: ValidationError) -> str:
    lines = [f"invalid configuration in {config_path} (or LIANXIN_* environment variables):"]
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        value = problem.get("input")
        secret = any(str(part).lower() in SECRETS for part in problem["loc"])
        shown = "" if isinstance(value, dict) or secret else f" = {value!r}"
        lines.append(f"  {key}{shown}: {problem['msg']}")
    return "\n".join(lines)
