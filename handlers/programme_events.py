"""/events (活动安排): trainings, collective activities and centralized visit rounds. A representative sees their
coming invitations and this year's attendance against the group rules, answers attend or excused (with a reason)
and checks in on the day, by button or by sharing a location near the event's place; the liaison office sees the
events with their counts, opens one for its attendance list, cancels one, and schedules a new one (/events add).
Also the words of every event notice (`notice`), for storage and the scheduler alike.

(handlers/events.py is the channel contract, Inbound and Reply; this module is about the programme's events.)"""

from __future__ import annotations

from datetime import date, time
from typing import Any, ClassVar

from handlers.audience import ScopeStep, scope_label
from handlers.dialogs import COMMAND_BUTTON, ConfirmStep, Context, Flow, Outcome, Prompt, Step, YesNoStep
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import coordinates, text_answer
from handlers.reception import when_text
from handlers.reception_office import coming_day
from storage import policy
from storage.errors import InvalidInput
from storage.models import EventInvitation, ProgrammeEvent
from storage.policy import Action
from storage.records import audience, events, reception
from storage.records.events import ATTEND, EXCUSED, KINDS

# Notices whose reader answers from the buttons they carry.
ANSWERABLE = frozenset({"event.notify.invited", "event.notify.changed", "event.notify.eve"})
VERBS = ("attend", "excuse", "checkin", "time", "cancel")
OFFICE_VERBS = ("time", "cancel")
ADD = "add"


# --- words ------------------------------------------------------------------------------------------------


def kind_label(language: str, kind: str) -> str:
    return t(language, f"event.kind.{kind}")


def event_button(language: str, event_id: int, verb: str, key: str, **params: Any) -> Button:
    """A button that types `/events <id> <verb>` (or opens the event when `verb` is empty)."""
    return Button(f"{COMMAND_BUTTON}/events {event_id} {verb}".rstrip(), t(language, key, **params))


def notice(language: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """An event notice (storage.records.events and scheduler.events name its key and values) in the reader's
    language; an invitation carries the buttons that answer it, a change and the reminder open the event."""
    shown = dict(values)
    event_id = int(shown.pop("event_id"))
    for name in ("when", "before"):
        if name in shown:
            shown[name] = when_text(language, shown[name])
    shown["kind"] = kind_label(language, str(shown.get("kind", "")))
    shown["place"] = shown.get("place") or "—"
    buttons: tuple[Button, ...] = ()
    if key == "event.notify.invited":
        buttons = (
            event_button(language, event_id, "attend", "event.button.attend"),
            event_button(language, event_id, "excuse", "event.button.excuse"),
        )
    elif key in ANSWERABLE:
        buttons = (event_button(language, event_id, "", "event.button.open"),)
    return Reply(t(language, key, **shown), buttons).to_payload()


def event_when(ctx: Context, event: ProgrammeEvent) -> str:
    return when_text(ctx.language, events.values(event, ctx.settings)["when"])


def short_title(ctx: Context, event: ProgrammeEvent) -> str:
    """06-12 培训：党章学习 — a button's label."""
    day = event.starts_at.astimezone(ctx.settings.zone).strftime("%m-%d")
    return ctx.t("event.short", day=day, kind=kind_label(ctx.language, event.kind), title=event.title)


def event_text(ctx: Context, event: ProgrammeEvent) -> str:
    lines = [
        ctx.t("event.line.title", kind=kind_label(ctx.language, event.kind), title=event.title),
        ctx.t("event.line.when", when=event_when(ctx, event)),
        ctx.t("event.line.place", place=event.place or "—"),
    ]
    if event.latitude is not None:
        lines.append(ctx.t("event.line.check_in_location", radius=events.radius_of(event, ctx.settings)))
    if event.cancelled:
        lines.append(ctx.t("event.line.cancelled"))
    return "\n".join(lines)


def answer_text(ctx: Context, link: EventInvitation) -> str:
    if link.checked_in_at is not None:
        local = link.checked_in_at.astimezone(ctx.settings.zone)
        return ctx.t("event.answer.checked_in", time=reception.clock(local.time()))
    if link.answer == EXCUSED:
        return ctx.t("event.answer.excused", reason=link.reason)
    return ctx.t(f"event.answer.{link.answer}")


async def attendance_line(ctx: Context, representative_id: int) -> str:
    """今年已参加培训 0/1 次，集体活动 1/2 次."""
    done = await events.attended(
        ctx.session, year=ctx.today.year, settings=ctx.settings, representative_id=representative_id
    )
    mine = done.get(representative_id, events.Attended())
    rules = ctx.settings.events
    return ctx.t(
        "event.view.attended",
        trainings=mine.trainings,
        trainings_rule=rules.trainings_per_year,
        collective=mine.collective,
        collective_rule=rules.collective_per_year,
    )


def can_check_in(ctx: Context, event: ProgrammeEvent, link: EventInvitation) -> bool:
    opens, closes = events.check_in_window(event, ctx.settings)
    return not event.cancelled and link.checked_in_at is None and opens <= ctx.now <= closes


# --- what /events shows -------------------------------------------------------------------------------------


async def representative_view(ctx: Context) -> Reply:
    rep_id = ctx.representative_id
    invitations = await events.coming_for(ctx.session, representative_id=rep_id, now=ctx.now)
    parts = [await attendance_line(ctx, rep_id)]
    buttons: list[Button] = []
    if invitations:
        lines = [ctx.t("event.view.coming")]
        for event, link in invitations:
            lines.append(event_text(ctx, event) + "\n" + ctx.t("event.line.answer", answer=answer_text(ctx, link)))
            assert event.id is not None
            buttons.append(Button(f"{COMMAND_BUTTON}/events {event.id}", short_title(ctx, event)))
        parts.append("\n\n".join(lines))
    else:
        parts.append(ctx.t("event.view.none"))
    return Reply("\n\n".join(parts), tuple(buttons))


async def representative_event(ctx: Context, event_id: int) -> Reply:
    event, link = await events.invitation_of(ctx.session, event_id=event_id, standing=ctx.standing)
    text = event_text(ctx, event) + "\n" + ctx.t("event.line.answer", answer=answer_text(ctx, link))
    buttons: list[Button] = []
    if not event.cancelled and event.ends_at > ctx.now:
        if can_check_in(ctx, event, link):
            key = "event.button.check_in_location" if event.latitude is not None else "event.button.check_in"
            buttons.append(event_button(ctx.language, event_id, "checkin", key))
        if link.checked_in_at is None:
            if link.answer != ATTEND:
                buttons.append(event_button(ctx.language, event_id, "attend", "event.button.attend"))
            if link.answer != EXCUSED:
                buttons.append(event_button(ctx.language, event_id, "excuse", "event.button.excuse"))
    buttons.append(Button(f"{COMMAND_BUTTON}/events", ctx.t("event.button.all")))
    return Reply(text, tuple(buttons))


async def office_view(ctx: Context) -> Reply:
    listed = await events.office_list(ctx.session, now=ctx.now, settings=ctx.settings)
    lines = [ctx.t("event.office.intro")]
    buttons = [Button(f"{COMMAND_BUTTON}/events {ADD}", ctx.t("event.button.add"))]
    for counts in listed:
        event = counts.event
        assert event.id is not None
        lines.append(
            event_text(ctx, event)
            + "\n"
            + ctx.t(
                "event.office.counts",
                invited=counts.invited,
                attending=counts.attending,
                excused=counts.excused,
                checked_in=counts.checked_in,
            )
        )
        buttons.append(Button(f"{COMMAND_BUTTON}/events {event.id}", short_title(ctx, event)))
    if not listed:
        lines.append(ctx.t("event.office.none"))
    return Reply("\n\n".join(lines), tuple(buttons))


async def office_event(ctx: Context, event_id: int) -> Reply:
    event = await events.get(ctx.session, event_id=event_id)
    scope = await audience.resolve(ctx.session, event.scope)
    lines = [event_text(ctx, event), ctx.t("event.line.scope", scope=scope_label(ctx, scope))]
    invited = await events.invited_list(ctx.session, event_id=event_id)
    lines.append(ctx.t("event.office.list", count=len(invited)))
    for rep, link in invited:
        lines.append(ctx.t("event.office.person", name=rep.name, code=rep.code, answer=answer_text(ctx, link)))
    buttons: list[Button] = []
    if not event.cancelled and event.ends_at > ctx.now:
        buttons.append(event_button(ctx.language, event_id, "time", "event.button.change_time"))
        buttons.append(event_button(ctx.language, event_id, "cancel", "event.button.cancel"))
    buttons.append(Button(f"{COMMAND_BUTTON}/events", ctx.t("event.button.all")))
    return Reply("\n".join(lines), tuple(buttons))


# --- /events -------------------------------------------------------------------------------------------------


def flow_for(arguments: str) -> str:
    """Which flow `/events <arguments>` opens: adding an event, or the events (one of them, an answer to one)."""
    words = arguments.split()
    return "event_add" if words and words[0].lower() == ADD else "event"


def event_id_argument(word: str) -> int:
    if not word.isdigit() or not word.isascii():
        raise InvalidInput("event.error.which")
    return int(word)


class DayStep(Step):
    """The event's day, when adding one or moving one: today or later, within a year."""

    key = "day"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("event.ask.day"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["day"] = coming_day(inbound.text, today=ctx.today).isoformat()
        return Outcome.NEXT


class TimeStep(Step):
    """From when to when (9:00-11:30); on the day itself, not a span already over."""

    key = "time"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("event.ask.time"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        starts, ends = reception.parse_span(text_answer(inbound.text, limit=40))
        if (
            date.fromisoformat(ctx.draft["day"]) == ctx.today
            and events.moment(ctx.today, ends, ctx.settings) <= ctx.now
        ):
            raise InvalidInput("event.error.past")
        ctx.draft["time"] = [reception.clock(starts), reception.clock(ends)]
        return Outcome.NEXT


class NewDayStep(DayStep):
    """The day an event moves to (the liaison office's /events N time)."""

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "time"


class NewTimeStep(TimeStep):
    """The new time of an event being moved."""

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "time"


class ReasonStep(Step):
    """Why the representative is excused: required."""

    key = "reason"

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "excuse"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": events.MAX_REASON}

    async def prompt(self, ctx: Context) -> Prompt:
        event = await events.get(ctx.session, event_id=int(ctx.draft["event_id"]))
        return Prompt(ctx.t("event.ask.reason", title=event.title, limit=events.MAX_REASON))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["reason"] = text_answer(inbound.text, limit=events.MAX_REASON)
        return Outcome.NEXT


class CheckInLocationStep(Step):
    """The shared location that checks in at an event with a place's location; one too far away is refused with
    the distance, and asked again."""

    key = "checked_in"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"location"})

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "checkin" and bool(draft.get("by_location"))

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"radius": ctx.settings.events.check_in_radius_m}

    async def prompt(self, ctx: Context) -> Prompt:
        event = await events.get(ctx.session, event_id=int(ctx.draft["event_id"]))
        radius = events.radius_of(event, ctx.settings)
        return Prompt(ctx.t("event.ask.location", title=event.title, radius=radius), ask="location")

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        await events.check_in(
            ctx.session,
            event_id=int(ctx.draft["event_id"]),
            standing=ctx.standing,
            now=ctx.now,
            settings=ctx.settings,
            latitude=inbound.latitude,
            longitude=inbound.longitude,
        )
        ctx.draft["checked_in"] = True
        return Outcome.NEXT


class CancelStep(YesNoStep):
    key = "sure"
    question = "event.ask.cancel"
    data = "event:cancel"
    no_first = True

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "cancel"


class EventsFlow(Flow):
    """/events: the list, one event, and the answers to it (attend at once; excused asks the reason; check in asks
    the location when the event has one); the liaison office's cancellation asks to be sure."""

    name = "event"
    action = Action.EVENTS
    steps = (ReasonStep(), CheckInLocationStep(), NewDayStep(), NewTimeStep(), CancelStep())

    async def prefill(self, ctx: Context, arguments: str) -> None:
        words = arguments.split()
        draft = ctx.draft
        if not words:
            draft["do"] = "view"
            return
        event_id = event_id_argument(words[0])
        draft["event_id"] = event_id
        verb = words[1].lower() if len(words) > 1 else "open"
        if verb not in (*VERBS, "open"):
            raise InvalidInput("event.error.which")
        draft["do"] = verb
        if verb in OFFICE_VERBS or (verb == "open" and not ctx.standing.is_representative):
            policy.require(ctx.standing, Action.MANAGE_EVENTS)
            await events.get(ctx.session, event_id=event_id)
        else:
            # Anyone not invited is refused before any question is asked.
            event, link = await events.invitation_of(ctx.session, event_id=event_id, standing=ctx.standing)
            if verb == "checkin":
                events.ready_to_check_in(event, link, now=ctx.now, settings=ctx.settings)
                draft["by_location"] = event.latitude is not None
            elif verb in ("attend", "excuse"):
                events.answerable(link)  # before the reason is asked

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        do = draft["do"]
        if do == "view":
            return [await self.view(ctx)]
        event_id = int(draft["event_id"])
        said = ""
        if do == "attend":
            await events.answer(ctx.session, event_id=event_id, standing=ctx.standing, attend=True, now=ctx.now)
            said = ctx.t("event.done.attend")
        elif do == "excuse":
            await events.answer(
                ctx.session, event_id=event_id, standing=ctx.standing, attend=False, reason=draft["reason"], now=ctx.now
            )
            said = ctx.t("event.done.excuse")
        elif do == "checkin":
            if not draft.get("by_location"):
                await events.check_in(
                    ctx.session, event_id=event_id, standing=ctx.standing, now=ctx.now, settings=ctx.settings
                )
            said = ctx.t("event.done.check_in")
        elif do == "time":
            day = date.fromisoformat(draft["day"])
            starts, ends = (time.fromisoformat(value.zfill(5)) for value in draft["time"])
            await events.change_time(
                ctx.session,
                event_id=event_id,
                starts_at=events.moment(day, starts, ctx.settings),
                ends_at=events.moment(day, ends, ctx.settings),
                standing=ctx.standing,
                settings=ctx.settings,
                now=ctx.now,
                render=notice,
            )
            said = ctx.t("event.done.change_time")
        elif do == "cancel":
            if not draft["sure"]:
                return [await office_event(ctx, event_id)]
            await events.cancel_event(
                ctx.session, event_id=event_id, standing=ctx.standing, settings=ctx.settings, now=ctx.now, render=notice
            )
            said = ctx.t("event.done.cancel")
        if ctx.standing.is_representative:
            shown = await representative_event(ctx, event_id)
        else:
            shown = await office_event(ctx, event_id)
        return [Reply(f"{said}\n\n{shown.text}" if said else shown.text, shown.buttons)]

    async def view(self, ctx: Context) -> Reply:
        if ctx.standing.is_representative:
            return await representative_view(ctx)
        policy.require(ctx.standing, Action.MANAGE_EVENTS)
        return await office_view(ctx)


# --- /events add: the liaison office schedules an event --------------------------------------------------------


class KindStep(Step):
    key = "kind"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = tuple(Button(f"event:kind:{kind}", kind_label(ctx.language, kind)) for kind in KINDS)
        return Prompt(ctx.t("event.ask.kind"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        kind = inbound.data.removeprefix("event:kind:")
        if kind not in KINDS:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["kind"] = kind
        return Outcome.NEXT


class TitleStep(Step):
    key = "title"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": events.MAX_TITLE}

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("event.ask.title", limit=events.MAX_TITLE))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["title"] = text_answer(inbound.text, limit=events.MAX_TITLE)
        return Outcome.NEXT


class PlaceStep(Step):
    key = "place"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": events.MAX_PLACE}

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("event.ask.place", limit=events.MAX_PLACE))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["place"] = text_answer(inbound.text, limit=events.MAX_PLACE)
        return Outcome.NEXT


class PlaceLocationStep(Step):
    """Where check-in by location is measured from; skipped, check-in is by button alone."""

    key = "location"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"location"})

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"radius": ctx.settings.events.check_in_radius_m}

    async def prompt(self, ctx: Context) -> Prompt:
        button = Button("event:location:skip", ctx.t("event.button.no_location"))
        return Prompt(
            ctx.t("event.ask.location_place", radius=ctx.settings.events.check_in_radius_m), (button,), ask="location"
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            ctx.draft["location"] = None
            return Outcome.NEXT
        ctx.draft["location"] = coordinates(inbound, invalid="event.error.bad_location")
        return Outcome.NEXT


class AddConfirmStep(ConfirmStep):
    """The confirmation, with the scope's words read before the summary is shown."""

    async def prompt(self, ctx: Context) -> Prompt:
        ctx.draft["_scope"] = scope_label(ctx, await audience.resolve(ctx.session, ctx.draft["scope"]))
        return await super().prompt(ctx)


def add_summary(ctx: Context) -> str:
    draft = ctx.draft
    location = draft.get("location")
    return "\n".join(
        [
            ctx.t("event.line.title", kind=kind_label(ctx.language, draft["kind"]), title=draft["title"]),
            ctx.t("event.line.scope", scope=draft.get("_scope", "")),
            ctx.t("event.line.when", when=when_text(ctx.language, [draft["day"], *draft["time"]])),
            ctx.t("event.line.place", place=draft["place"]),
            ctx.t(
                "event.line.check_in",
                how=ctx.t("event.check_in.by_location", radius=ctx.settings.events.check_in_radius_m)
                if location
                else ctx.t("event.check_in.by_button"),
            ),
        ]
    )


KIND, TITLE, SCOPE, DAY, TIME = KindStep(), TitleStep(), ScopeStep("event"), DayStep(), TimeStep()
PLACE, LOCATION = PlaceStep(), PlaceLocationStep()
ADD_EDITABLE = (KIND, TITLE, SCOPE, DAY, TIME, PLACE, LOCATION)


class EventAddFlow(Flow):
    """/events add: the liaison office schedules an event; saving invites the scope and tells each one."""

    name = "event_add"
    action = Action.MANAGE_EVENTS
    steps = (
        KIND,
        TITLE,
        SCOPE,
        DAY,
        TIME,
        PLACE,
        LOCATION,
        AddConfirmStep("event_add", summary=add_summary, editable=ADD_EDITABLE),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        policy.require(ctx.standing, Action.MANAGE_EVENTS)

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        day = date.fromisoformat(draft["day"])
        starts, ends = (time.fromisoformat(value.zfill(5)) for value in draft["time"])
        location = draft.get("location")
        event = await events.add_event(
            ctx.session,
            kind=draft["kind"],
            title=draft["title"],
            scope=draft["scope"],
            starts_at=events.moment(day, starts, ctx.settings),
            ends_at=events.moment(day, ends, ctx.settings),
            place=draft["place"],
            latitude=location[0] if location else None,
            longitude=location[1] if location else None,
            standing=ctx.standing,
            settings=ctx.settings,
            now=ctx.now,
            render=notice,
        )
        assert event.id is not None
        invited = len(await events.invited_list(ctx.session, event_id=event.id))
        text = ctx.t("event.office.added", count=invited) + "\n" + event_text(ctx, event)
        buttons = (
            Button(f"{COMMAND_BUTTON}/events {event.id}", ctx.t("event.button.attendance")),
            Button(f"{COMMAND_BUTTON}/events", ctx.t("event.button.all")),
        )
        return [Reply(text, buttons)]
