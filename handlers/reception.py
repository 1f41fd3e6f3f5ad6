"""/reception (接待日): residents see the coming reception days of their area's station and subscribe to its
notices; representatives see their duties (confirm, ask for a swap) and note what they heard at a reception, which
opens a case linked to it; the liaison office's rota is in handlers.reception_office. Also the words of every
reception-day notice (`notice`), for storage and the scheduler alike."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, ClassVar

from handlers.case_intake import (
    CATEGORY,
    EXTRAS,
    OWN_AREA,
    TEXT,
    ConsentStep,
    NameStep,
    PhoneStep,
    PlaceStep,
    category_label,
    registered,
)
from handlers.case_intake import summary as case_summary
from handlers.dialogs import COMMAND_BUTTON, ConfirmStep, Context, Flow, Outcome, Prompt, Step, YesNoStep
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import text_answer
from handlers.notices import render
from storage import policy
from storage.errors import InvalidInput, NotFound
from storage.models import Representative, Station
from storage.policy import Action, Role
from storage.records import cases, reception, rota_changes
from storage.records.cases import Intake
from storage.records.reception import CONFIRMED, SWAP_ASKED, Rota
from storage.workdays import calendar_of

STATUS_KEYS = {
    reception.ASSIGNED: "reception.status.assigned",
    reception.CONFIRMED: "reception.status.confirmed",
    reception.SWAP_ASKED: "reception.status.swap_asked",
}
# Notices whose reader acts on them from /reception (confirm a duty, take a note, unsubscribe).
OPENS_RECEPTION = frozenset(
    {
        "reception.notify.assigned",
        "reception.notify.changed",
        "reception.notify.eve_duty",
        "reception.notify.eve_residents",
        "reception.notify.morning",
    }
)
OFFICE_VERBS = {"add": "rota", "day": "rota_day", "station": "rota_day"}


# --- words ------------------------------------------------------------------------------------------------


def when_text(language: str, when: Sequence[str]) -> str:
    """(ISO day, start, end) as a reader reads it: 2026-11-26（周四）9:00-11:30."""
    day, starts, ends = when
    weekday = t(language, "reception.weekdays").split()[date.fromisoformat(day).weekday()]
    return t(language, "reception.when", date=day, weekday=weekday, starts=starts, ends=ends)


def names_text(language: str, names: Sequence[str]) -> str:
    return t(language, "list.separator").join(names) if names else t(language, "reception.nobody_on_duty")


def notice(language: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """A reception-day notice (storage.records.reception and scheduler.reception name its key and values) in the
    reader's language, with the button that opens what they can do about it."""
    shown = dict(values)
    reception_id = shown.pop("reception_id", None)
    for name in ("when", "before"):
        if name in shown:
            shown[name] = when_text(language, shown[name])
    if "names" in shown:
        shown["names"] = names_text(language, shown["names"])
    buttons: tuple[Button, ...] = ()
    if key in OPENS_RECEPTION:
        buttons = (Button(f"{COMMAND_BUTTON}/reception", t(language, "reception.button.open")),)
    elif key == "reception.notify.swap_asked" and reception_id is not None:
        buttons = (Button(f"{COMMAND_BUTTON}/reception day {reception_id}", t(language, "reception.button.handle")),)
    return Reply(t(language, key, **shown), buttons).to_payload()


def short_day(rota: Rota) -> str:
    return rota.day.strftime("%m-%d")


def day_text(ctx: Context, rota: Rota, *, station: bool = False, duty: bool = True) -> str:
    """One reception day: when, (which station,) where, who is on duty."""
    lines = [ctx.t("reception.line.when", when=when_text(ctx.language, rota.when))]
    if station:
        lines.append(ctx.t("reception.line.station", station=rota.station))
    lines.append(ctx.t("reception.line.place", place=rota.where or "—"))
    if duty:
        lines.append(ctx.t("reception.line.duty", names=names_text(ctx.language, [one.name for one in rota.duty])))
    if rota.cancelled:
        lines.append(ctx.t("reception.line.cancelled"))
    return "\n".join(lines)


def days_text(ctx: Context, rotas: Sequence[Rota], *, empty: str) -> str:
    return "\n\n".join(day_text(ctx, rota) for rota in rotas) if rotas else ctx.t(empty)


def open_button(ctx: Context, arguments: str, key: str, **params: Any) -> Button:
    """A button that types `/reception <arguments>`: outside a dialog it is remembered as an offer, so a typed
    number picks it on channels without buttons."""
    return Button(f"{COMMAND_BUTTON}/reception {arguments}".rstrip(), ctx.t(key, **params))


# --- what /reception shows each role ----------------------------------------------------------------------


async def resident_view(ctx: Context, station: Station) -> Reply:
    assert station.id is not None
    shown = ctx.settings.reception.shown
    rotas = await reception.coming(ctx.session, station_id=station.id, today=ctx.today, limit=shown)
    subscribed = await reception.is_subscribed(ctx.session, identity=ctx.identity, station_id=station.id)
    text = "\n\n".join(
        [
            ctx.t("reception.view.station", station=station.name, address=station.address or "—"),
            days_text(ctx, rotas, empty="reception.view.none"),
            ctx.t("reception.view.subscribed" if subscribed else "reception.view.not_subscribed"),
        ]
    )
    buttons = [
        open_button(ctx, f"unsubscribe {station.id}", "reception.button.unsubscribe")
        if subscribed
        else open_button(ctx, f"subscribe {station.id}", "reception.button.subscribe"),
        open_button(ctx, "place", "reception.button.place"),
    ]
    return Reply(text, tuple(buttons))


async def representative_view(ctx: Context) -> Reply:
    rep_id = ctx.representative_id
    shown = ctx.settings.reception.shown
    since = ctx.today - timedelta(days=reception.NOTE_DAYS)
    duties = await reception.duties_of(ctx.session, representative_id=rep_id, since=since, limit=shown + 3)
    parts: list[str] = []
    buttons: list[Button] = []
    coming = [rota for rota in duties if rota.day >= ctx.today]
    held = [rota for rota in duties if rota.day <= ctx.today]
    if coming:
        lines = [ctx.t("reception.view.duties")]
        for rota in coming:
            mine = rota.on_duty(rep_id)
            status = ctx.t(STATUS_KEYS.get(mine.status if mine else "", "reception.status.assigned"))
            if mine is not None and mine.status == SWAP_ASKED:
                status = ctx.t("reception.status.swap_asked_because", reason=mine.note)
            lines.append(day_text(ctx, rota, station=True) + "\n" + ctx.t("reception.line.status", status=status))
            if mine is not None and mine.status != CONFIRMED:
                buttons.append(open_button(ctx, f"confirm {rota.id}", "reception.button.confirm", date=short_day(rota)))
            if mine is not None and mine.status != SWAP_ASKED:
                buttons.append(open_button(ctx, f"swap {rota.id}", "reception.button.swap", date=short_day(rota)))
        parts.append("\n\n".join(lines))
    else:
        parts.append(ctx.t("reception.view.no_duties"))
    for rota in held:
        buttons.append(open_button(ctx, f"note {rota.id}", "reception.button.note", date=short_day(rota)))
    if held:
        parts.append(ctx.t("reception.view.note_hint", days=reception.NOTE_DAYS))
    station = await own_station(ctx)
    if station is not None and station.id is not None:
        rotas = await reception.coming(ctx.session, station_id=station.id, today=ctx.today, limit=shown)
        others = [rota for rota in rotas if rota.on_duty(rep_id) is None]  # their own are listed above
        if others or not coming:
            parts.append(ctx.t("reception.view.station_others", station=station.name, address=station.address or "—"))
            parts.append(days_text(ctx, others, empty="reception.view.none"))
    return Reply("\n\n".join(parts), tuple(buttons))


async def own_station(ctx: Context) -> Station | None:
    rep = await ctx.session.get(Representative, ctx.representative_id)
    if rep is None or rep.station_id is None:
        return None
    return await ctx.session.get(Station, rep.station_id)


async def office_view(ctx: Context) -> Reply:
    requests = await reception.swap_requests(ctx.session, today=ctx.today)
    parts = [ctx.t("reception.office.intro")]
    buttons = [open_button(ctx, "add", "reception.button.add"), open_button(ctx, "station", "reception.button.station")]
    if requests:
        lines = [ctx.t("reception.office.swaps", count=len(requests))]
        for rota, one in requests:
            lines.append(
                ctx.t(
                    "reception.office.swap_line",
                    when=when_text(ctx.language, rota.when),
                    station=rota.station,
                    name=one.name,
                    code=one.code,
                    reason=one.note,
                )
            )
            buttons.append(
                open_button(ctx, f"day {rota.id}", "reception.button.handle_swap", date=short_day(rota), code=one.code)
            )
        parts.append("\n".join(lines))
    else:
        parts.append(ctx.t("reception.office.no_swaps"))
    return Reply("\n\n".join(parts), tuple(buttons))


# --- /reception ---------------------------------------------------------------------------------------------


def flow_for(arguments: str) -> str:
    """Which flow `/reception <arguments>` opens: the liaison office's rota, a note, or the view."""
    verb = arguments.split(maxsplit=1)[0].lower() if arguments.strip() else ""
    if verb in OFFICE_VERBS:
        return OFFICE_VERBS[verb]
    return "reception_note" if verb == "note" else "reception"


def number_argument(words: list[str]) -> int:
    if len(words) < 2 or not words[1].isdigit() or not words[1].isascii():
        raise InvalidInput("reception.error.which")
    return int(words[1])


class ReceptionPlaceStep(PlaceStep):
    """Where the resident lives (the intake's question, remembered the same way), asked when it is not known or
    the resident wants another station."""

    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("need_place"))

    async def prompt(self, ctx: Context) -> Prompt:
        asked = await super().prompt(ctx)
        return asked if asked.buttons else Prompt(ctx.t("reception.ask.place"))


class SwapReasonStep(Step):
    key = "reason"

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "swap"

    async def prompt(self, ctx: Context) -> Prompt:
        rota = await reception.view(ctx.session, reception_id=int(ctx.draft["reception_id"]))
        return Prompt(
            ctx.t(
                "reception.ask.swap_reason",
                when=when_text(ctx.language, rota.when),
                station=rota.station,
                limit=reception.MAX_REASON,
            )
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["reason"] = text_answer(inbound.text, limit=reception.MAX_REASON)
        return Outcome.NEXT


class ReceptionFlow(Flow):
    """/reception: what each person sees of reception days, and the one-press answers (subscribe, confirm)."""

    name = "reception"
    action = Action.READ_RECEPTION
    steps = (ReceptionPlaceStep(), SwapReasonStep())

    async def prefill(self, ctx: Context, arguments: str) -> None:
        words = arguments.split()
        verb = words[0].lower() if words else "view"
        draft = ctx.draft
        if verb in ("subscribe", "unsubscribe"):
            draft["do"], draft["station_id"] = verb, number_argument(words)
        elif verb in ("confirm", "swap"):
            policy.require(ctx.standing, Action.ANSWER_DUTY)
            draft["do"], draft["reception_id"] = verb, number_argument(words)
            await rota_changes.own_duty(
                ctx.session, reception_id=draft["reception_id"], standing=ctx.standing, today=ctx.today
            )
        elif verb == "place":
            draft["do"], draft["need_place"] = "view", True
        else:
            draft["do"] = "view"
        sees_station = not ctx.standing.is_representative and ctx.standing.role is not Role.LIAISON
        if draft["do"] == "view" and sees_station and await station_of(ctx, ctx.identity.area_id) is None:
            draft["need_place"] = True

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        said = ""
        if draft["do"] in ("subscribe", "unsubscribe"):
            station = await ctx.session.get(Station, int(draft["station_id"]))
            if station is None or station.id is None:
                raise NotFound("reception.error.unknown_station")
            if draft["do"] == "subscribe":
                await reception.subscribe(ctx.session, identity=ctx.identity, station_id=station.id, now=ctx.now)
            else:
                await reception.unsubscribe(ctx.session, identity=ctx.identity, station_id=station.id)
            key = "reception.done.subscribe" if draft["do"] == "subscribe" else "reception.done.unsubscribe"
            said = ctx.t(key, station=station.name)
            return [with_note(said, await resident_view(ctx, station))]
        if draft["do"] == "confirm":
            rota = await rota_changes.confirm_duty(
                ctx.session,
                reception_id=int(draft["reception_id"]),
                standing=ctx.standing,
                settings=ctx.settings,
                now=ctx.now,
            )
            said = ctx.t("reception.done.confirm", when=when_text(ctx.language, rota.when), station=rota.station)
        elif draft["do"] == "swap":
            rota = await rota_changes.ask_swap(
                ctx.session,
                reception_id=int(draft["reception_id"]),
                standing=ctx.standing,
                reason=draft["reason"],
                settings=ctx.settings,
                now=ctx.now,
                render=notice,
            )
            said = ctx.t("reception.done.swap", when=when_text(ctx.language, rota.when), station=rota.station)
        return [with_note(said, await self.view(ctx))]

    async def view(self, ctx: Context) -> Reply:
        if ctx.standing.is_representative:
            return await representative_view(ctx)
        if ctx.standing.role is Role.LIAISON:
            return await office_view(ctx)
        station = await station_of(ctx, ctx.draft.get("area_id") or ctx.identity.area_id)
        if station is None:
            raise NotFound("reception.error.no_station")
        return await resident_view(ctx, station)


def with_note(said: str, reply: Reply) -> Reply:
    return Reply(f"{said}\n\n{reply.text}" if said else reply.text, reply.buttons)


async def station_of(ctx: Context, area_id: int | None) -> Station | None:
    return None if area_id is None else await reception.station_of_area(ctx.session, area_id=int(area_id))


# --- a note taken at a reception ----------------------------------------------------------------------------


class NamedStep(YesNoStep):
    """Whether the resident leaves a name and a phone (a reception is often visited by people who do not)."""

    key = "named"
    question = "reception.ask.named"
    data = "reception:named"
    resets = ("name", "phone", "consent")


class NoteNameStep(NameStep):
    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("named"))

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("reception.ask.name"))


class NotePhoneStep(PhoneStep):
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text"})

    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("named"))

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("reception.ask.phone"), (Button("mailbox:phone:skip", ctx.t("button.skip")),))


class NoteConsentStep(ConsentStep):
    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("named")) and bool(draft.get("phone"))


NAMED, NOTE_NAME, NOTE_PHONE, NOTE_CONSENT = NamedStep(), NoteNameStep(), NotePhoneStep(), NoteConsentStep()


def note_summary(ctx: Context) -> str:
    draft = ctx.draft
    lines = [
        ctx.t("reception.summary.reception", station=draft["station"], when=when_text(ctx.language, draft["when"]))
    ]
    lines.append(case_summary(ctx))
    if draft.get("named"):
        phone = draft.get("phone") or ctx.t("mailbox.no_phone")
        lines.append(ctx.t("reception.summary.named", name=draft.get("name", ""), phone=phone))
    else:
        lines.append(ctx.t("reception.summary.unnamed"))
    return "\n".join(lines)


class NoteFlow(Flow):
    """记录接待: what a resident raised at a reception, noted by the representative on duty (or the liaison office)
    as a case opened at once, linked to the reception."""

    name = "reception_note"
    action = Action.NOTE_RECEPTION
    steps = (
        OWN_AREA,
        CATEGORY,
        TEXT,
        EXTRAS,
        NAMED,
        NOTE_NAME,
        NOTE_PHONE,
        NOTE_CONSENT,
        ConfirmStep(
            "reception_note",
            summary=note_summary,
            editable=(CATEGORY, TEXT, EXTRAS, NAMED, NOTE_NAME, NOTE_PHONE, NOTE_CONSENT),
        ),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        rota = await rota_changes.noted_at(
            ctx.session,
            reception_id=number_argument(["note", *arguments.split()[-1:]]),
            standing=ctx.standing,
            today=ctx.today,
        )
        areas = await reception.station_areas(ctx.session, station_id=rota.station_id)
        ctx.draft.update(
            {
                "report": True,  # raised by a representative: the intake's steps ask as for a report
                "reception_id": rota.id,
                "station": rota.station,
                "when": list(rota.when),
                "own_areas": [[area.id, area.name] for area in areas],
            }
        )
        if len(areas) == 1:
            ctx.draft["area_id"] = areas[0].id

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        location = draft.get("location")
        named = bool(draft.get("named"))
        intake = Intake(
            source="reception",
            category=draft["category"],
            text=draft["text"],
            area_id=draft.get("area_id"),
            representative_id=ctx.standing.representative_id,
            latitude=location[0] if location else None,
            longitude=location[1] if location else None,
            photos=tuple(draft.get("photos", [])),
            name=draft.get("name", "") if named else "",
            phone=draft.get("phone", "") if named else "",
            consent=bool(draft.get("consent")) and named,
            reception_id=int(draft["reception_id"]),
        )
        case = await cases.submit(
            ctx.session,
            intake=intake,
            writer=ctx.identity,
            actor=ctx.actor,
            settings=ctx.settings,
            calendar=calendar_of(ctx.settings),
            now=ctx.now,
            render=render,
        )
        due, assigned = registered(ctx, case)
        label = category_label(ctx, case.category)
        text = ctx.t("reception.noted", number=case.number, due=due, category=label) + assigned
        more = open_button(ctx, f"note {draft['reception_id']}", "reception.button.note_more")
        return [Reply(text, (more,))]
