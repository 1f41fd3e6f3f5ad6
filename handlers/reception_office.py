"""The liaison office's rota in the chat: add a reception day (/reception add), and change or cancel one
(/reception day N, /reception station): its date, time, place and who is on duty, a swap request answered by
putting someone else on duty. Whoever is concerned is told by storage.records.reception."""

from __future__ import annotations

import unicodedata
from datetime import date, time, timedelta
from typing import Any, ClassVar

from handlers.dialogs import ConfirmStep, Context, Flow, Outcome, Prompt, Step, YesNoStep
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.inputs import coming_date, text_answer
from handlers.reception import STATUS_KEYS, day_text, notice, number_argument, open_button, when_text
from storage.errors import InvalidInput
from storage.models import Station
from storage.policy import Action
from storage.records import reception, rota_changes

RELATIVE = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}
FAR = timedelta(days=366)


def coming_day(text: str, *, today: date) -> date:
    """今天 / 明天 / 后天 / 2026-12-02 / 12-2 / 12月2日 (the next such day): today or later, within a year."""
    typed = unicodedata.normalize("NFKC", text).strip().lower()
    if typed in RELATIVE:
        return today + timedelta(days=RELATIVE[typed])
    day = coming_date(typed, today=today)
    if day is None:
        raise InvalidInput("reception.error.bad_day")
    if day < today:
        raise InvalidInput("reception.error.past", day=day.isoformat())
    if day > today + FAR:
        raise InvalidInput("reception.error.too_far")
    return day


class ForDo(Step):
    """A question of the rota flows, asked when adding a day or (`do`) for the change chosen."""

    def __init__(self, do: str | None = None) -> None:
        self.do = do

    def applies(self, draft: dict[str, Any]) -> bool:
        return self.do is None or draft.get("do") == self.do


class StationStep(Step):
    """The station, found by part of its name or address."""

    key = "station_id"
    resets = ("stations",)

    async def prompt(self, ctx: Context) -> Prompt:
        found = ctx.draft.get("stations", [])
        if found:
            buttons = tuple(Button(f"rota:station:{station_id}", name) for station_id, name in found)
            return Prompt(ctx.t("reception.ask.station_pick"), buttons)
        return Prompt(ctx.t("reception.ask.station"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            station_id = int(inbound.data.removeprefix("rota:station:"))
            if not any(station_id == found[0] for found in ctx.draft.get("stations", [])):
                raise InvalidInput("dialog.stale_button")
            return self._chosen(ctx, station_id)
        typed = text_answer(inbound.text, limit=100)
        stations = await reception.find_stations(ctx.session, text=typed)
        if not stations:
            ctx.draft.pop("stations", None)
            raise InvalidInput("reception.error.no_station_found", text=typed)
        if len(stations) == 1 and stations[0].id is not None:
            return self._chosen(ctx, stations[0].id)
        ctx.draft["stations"] = [[station.id, station.name] for station in stations]
        return Outcome.STAY

    def _chosen(self, ctx: Context, station_id: int) -> Outcome:
        ctx.draft.pop("stations", None)
        ctx.draft["station_id"] = station_id
        return Outcome.NEXT


class DateStep(ForDo):
    key = "day"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("reception.ask.day"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["day"] = coming_day(inbound.text, today=ctx.today).isoformat()
        return Outcome.NEXT


class TimeStep(ForDo):
    key = "time"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("reception.ask.time"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        starts, ends = reception.parse_span(text_answer(inbound.text, limit=40))
        ctx.draft["time"] = [reception.clock(starts), reception.clock(ends)]
        return Outcome.NEXT


class PlaceStep(ForDo):
    """Where it is held: the station's own address unless another place is written."""

    key = "place"

    async def prompt(self, ctx: Context) -> Prompt:
        station = await ctx.session.get(Station, int(ctx.draft["station_id"]))
        address = station.address if station is not None else ""
        button = Button("rota:place:station", ctx.t("reception.button.station_address", address=address or "—"))
        return Prompt(ctx.t("reception.ask.place_held", limit=reception.MAX_PLACE), (button,))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            ctx.draft["place"] = ""
        else:
            ctx.draft["place"] = text_answer(inbound.text, limit=reception.MAX_PLACE)
        return Outcome.NEXT


class DutyStep(ForDo):
    """Who is on duty, by their codes; the station's representatives are listed to choose from."""

    key = "codes"

    async def prompt(self, ctx: Context) -> Prompt:
        reps = await reception.station_representatives(ctx.session, station_id=int(ctx.draft["station_id"]))
        listed = ctx.t("list.separator").join(f"{rep.code} {rep.name}" for rep in reps) or "—"
        lines = []
        if "reception_id" in ctx.draft:
            rota = await reception.view(ctx.session, reception_id=int(ctx.draft["reception_id"]))
            lines.append(ctx.t("reception.ask.duty_now", duty=duty_line(ctx, rota)))
        lines.append(ctx.t("reception.ask.duty", representatives=listed))
        button = Button("rota:duty:none", ctx.t("reception.button.nobody"))
        return Prompt("\n".join(lines), (button,))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            ctx.draft["codes"] = []
            return Outcome.NEXT
        codes = reception.split_codes(text_answer(inbound.text, limit=200))
        reps = await reception.representatives_by_codes(ctx.session, codes=codes)
        ctx.draft["codes"] = [[rep.id, rep.code, rep.name] for rep in reps]
        return Outcome.NEXT


def duty_line(ctx: Context, rota: reception.Rota) -> str:
    """Who is on duty and how each answered."""
    if not rota.duty:
        return ctx.t("reception.nobody_on_duty")
    shown = []
    for one in rota.duty:
        status = ctx.t(STATUS_KEYS.get(one.status, "reception.status.assigned"))
        if one.status == reception.SWAP_ASKED:
            status = ctx.t("reception.office.swap_status", reason=one.note)
        shown.append(ctx.t("reception.office.on_duty", name=one.name, code=one.code, status=status))
    return ctx.t("list.separator").join(shown)


class CancelStep(YesNoStep, ForDo):
    key = "sure"
    question = "reception.ask.cancel"
    data = "rota:cancel"

    def __init__(self) -> None:
        ForDo.__init__(self, "cancel")

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        await YesNoStep.receive(self, ctx, inbound)
        if not ctx.draft["sure"]:  # not cancelled after all: back to what to change
            ctx.draft.pop("sure")
            ctx.draft.pop("do")
            return Outcome.STAY
        return Outcome.FINISH


def _station_name(station: Station | None) -> str:
    return station.name if station is not None else "—"


def summary_lines(ctx: Context, station: str, address: str) -> str:
    draft = ctx.draft
    when = when_text(ctx.language, [draft["day"], *draft["time"]])
    names = ctx.t("list.separator").join(f"{name}（{code}）" for _, code, name in draft.get("codes", []))
    return "\n".join(
        [
            ctx.t("reception.summary.station", station=station),
            ctx.t("reception.summary.when", when=when),
            ctx.t("reception.summary.place", place=draft.get("place") or address or "—"),
            ctx.t("reception.summary.duty", names=names or ctx.t("reception.nobody_on_duty")),
        ]
    )


class RotaConfirmStep(ConfirmStep):
    """The confirmation, with the station's address read for the summary before it is shown."""

    async def prompt(self, ctx: Context) -> Prompt:
        station = await ctx.session.get(Station, int(ctx.draft["station_id"]))
        ctx.draft["_station"] = [_station_name(station), station.address if station is not None else ""]
        return await super().prompt(ctx)


def rota_summary(ctx: Context) -> str:
    name, address = ctx.draft.get("_station", ["—", ""])
    return summary_lines(ctx, name, address)


ADD_DATE, ADD_TIME, ADD_PLACE, ADD_DUTY = DateStep(), TimeStep(), PlaceStep(), DutyStep()


class RotaFlow(Flow):
    """/reception add: a new reception day at a station."""

    name = "rota"
    action = Action.MANAGE_RECEPTION
    steps = (
        StationStep(),
        ADD_DATE,
        ADD_TIME,
        ADD_PLACE,
        ADD_DUTY,
        RotaConfirmStep("rota", summary=rota_summary, editable=(ADD_DATE, ADD_TIME, ADD_PLACE, ADD_DUTY)),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        words = arguments.split()
        if len(words) > 1:
            station = await ctx.session.get(Station, number_argument(words))
            if station is not None:
                ctx.draft["station_id"] = station.id

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        record = await rota_changes.add_day(
            ctx.session,
            station_id=int(draft["station_id"]),
            day=date.fromisoformat(draft["day"]),
            starts=time.fromisoformat(draft["time"][0].zfill(5)),
            ends=time.fromisoformat(draft["time"][1].zfill(5)),
            place=draft.get("place", ""),
            representative_ids=[int(rep_id) for rep_id, _, _ in draft.get("codes", [])],
            actor=ctx.actor,
            settings=ctx.settings,
            now=ctx.now,
            render=notice,
        )
        assert record.id is not None
        rota = await reception.view(ctx.session, reception_id=record.id)
        text = ctx.t("reception.office.added") + "\n" + day_text(ctx, rota, station=True)
        buttons = (
            open_button(ctx, f"add {rota.station_id}", "reception.button.add_more"),
            open_button(ctx, f"day {rota.id}", "reception.button.change"),
        )
        return [Reply(text, buttons)]


class PickDayStep(Step):
    """One of the station's coming days."""

    key = "reception_id"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    resets = ("do",)

    async def prompt(self, ctx: Context) -> Prompt:
        station = await ctx.session.get(Station, int(ctx.draft["station_id"]))
        rotas = await reception.coming(
            ctx.session, station_id=int(ctx.draft["station_id"]), today=ctx.today, limit=8, include_cancelled=True
        )
        if not rotas:
            return Prompt(ctx.t("reception.office.station_empty", station=_station_name(station)))
        buttons = tuple(
            Button(
                f"rota:day:{rota.id}",
                when_text(ctx.language, rota.when)
                + (ctx.t("reception.office.cancelled_mark") if rota.cancelled else ""),
            )
            for rota in rotas
        )
        return Prompt(ctx.t("reception.ask.pick_day", station=_station_name(station)), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        reception_id = int(inbound.data.removeprefix("rota:day:"))
        rota = await reception.view(ctx.session, reception_id=reception_id)
        if rota.station_id != ctx.draft.get("station_id"):
            raise InvalidInput("dialog.stale_button")
        ctx.draft["reception_id"] = reception_id
        return Outcome.NEXT


CHANGES = ("day", "time", "place", "codes", "cancel")


class ChangeStep(Step):
    """The day in full, and what to change."""

    key = "do"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    resets = ("day", "time", "place", "codes", "sure")

    async def prompt(self, ctx: Context) -> Prompt:
        rota = await reception.view(ctx.session, reception_id=int(ctx.draft["reception_id"]))
        text = (
            day_text(ctx, rota, station=True, duty=False)
            + "\n"
            + ctx.t("reception.line.duty", names=duty_line(ctx, rota))
        )
        changes = CHANGES if not rota.cancelled else ()
        buttons = [Button(f"rota:do:{change}", ctx.t(f"reception.button.do_{change}")) for change in changes]
        buttons.append(Button("rota:do:list", ctx.t("reception.button.other_day")))
        return Prompt(text + "\n\n" + ctx.t("reception.ask.change"), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        change = inbound.data.removeprefix("rota:do:")
        if change == "list":
            ctx.draft.pop("reception_id", None)
            return Outcome.STAY
        if change not in CHANGES:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["do"] = change
        return Outcome.NEXT


class RotaDayFlow(Flow):
    """/reception day N (or station [N]): change a day's date, time, place or duty, or cancel it."""

    name = "rota_day"
    action = Action.MANAGE_RECEPTION
    steps = (
        StationStep(),
        PickDayStep(),
        ChangeStep(),
        DateStep("day"),
        TimeStep("time"),
        PlaceStep("place"),
        DutyStep("codes"),
        CancelStep(),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        words = arguments.split()
        verb = words[0].lower() if words else "station"
        if verb == "day":
            rota = await reception.view(ctx.session, reception_id=number_argument(words))
            if rota.day < ctx.today:
                raise InvalidInput("reception.error.past", day=rota.day.isoformat())
            ctx.draft["station_id"], ctx.draft["reception_id"] = rota.station_id, rota.id
        elif len(words) > 1:
            station = await ctx.session.get(Station, number_argument(words))
            if station is not None:
                ctx.draft["station_id"] = station.id

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        reception_id = int(draft["reception_id"])
        common: dict[str, Any] = {"actor": ctx.actor, "settings": ctx.settings, "now": ctx.now, "render": notice}
        if draft["do"] == "cancel":
            await rota_changes.cancel_day(ctx.session, reception_id=reception_id, **common)
            said = "reception.office.cancelled"
        else:
            changes: dict[str, Any] = {}
            if draft["do"] == "day":
                changes["day"] = date.fromisoformat(draft["day"])
            elif draft["do"] == "time":
                changes["starts"] = time.fromisoformat(draft["time"][0].zfill(5))
                changes["ends"] = time.fromisoformat(draft["time"][1].zfill(5))
            elif draft["do"] == "place":
                changes["place"] = draft["place"]
            else:
                changes["representative_ids"] = [int(rep_id) for rep_id, _, _ in draft["codes"]]
            await rota_changes.change_day(ctx.session, reception_id=reception_id, **changes, **common)
            said = "reception.office.changed"
        rota = await reception.view(ctx.session, reception_id=reception_id)
        text = ctx.t(said) + "\n" + day_text(ctx, rota, station=True, duty=False)
        text += "\n" + ctx.t("reception.line.duty", names=duty_line(ctx, rota))
        buttons = () if rota.cancelled else (open_button(ctx, f"day {rota.id}", "reception.button.change"),)
        return [Reply(text, buttons)]
