"""The visit flow (/visit, 走访): the household (handlers/visit_household.py), how it went, and saving it with the
progress."""

from __future__ import annotations

import contextlib
from datetime import date
from typing import Any, ClassVar

from handlers.dialogs import COMMAND_BUTTON, ConfirmStep, Context, Flow, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.inputs import coordinates, text_answer, visit_day
from handlers.progress import progress_text, round_label
from handlers.visit_household import (
    CategoriesStep,
    HouseholdStep,
    NewAddressStep,
    NewAreaStep,
    NewHeadStep,
    NewPhoneStep,
    category_names,
    choose_household,
    correctable,
    household_text,
    recheck_area,
    registering,
    search_households,
)
from storage import policy
from storage.errors import InvalidInput
from storage.models import Representative
from storage.policy import Action
from storage.records import households, people, visits
from storage.records.visits import NewHousehold, VisitRecord

MAX_PHOTOS = 10


class ModeStep(Step):
    key = "mode"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"share": round(ctx.settings.quota.min_in_home_share * 100)}

    async def prompt(self, ctx: Context) -> Prompt:
        modes = ctx.settings.visits.modes
        return Prompt(
            ctx.t("visit.ask.mode"),
            tuple(Button(f"visit:mode:{mode.code}", mode.label(ctx.language)) for mode in modes),
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        code = inbound.data.removeprefix("visit:mode:")
        if ctx.settings.visits.mode(code) is None:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["mode"] = code
        return Outcome.NEXT


class CollectiveStep(Step):
    key = "collective"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    resets = ("companions_ok", "rep_candidates")  # the co-visitors stay, in case it is collective again

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("visit.ask.collective"),
            (
                Button("visit:with:solo", ctx.t("visit.solo")),
                Button("visit:with:group", ctx.t("visit.group")),
            ),
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["collective"] = inbound.data == "visit:with:group"
        if not ctx.draft["collective"]:
            ctx.draft["companions"] = []
        return Outcome.NEXT


class CompanionsStep(Step):
    key = "companions_ok"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text"})

    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("collective"))

    async def prompt(self, ctx: Context) -> Prompt:
        chosen = ctx.draft.get("companions", [])
        chosen_ids = {rep_id for rep_id, _ in chosen}
        buttons = [
            Button(f"visit:rep:{rep_id}", name)
            for rep_id, name in ctx.draft.get("rep_candidates", [])
            if rep_id not in chosen_ids
        ]
        buttons += [Button(f"visit:rep:{rep_id}", ctx.t("visit.button.remove", name=name)) for rep_id, name in chosen]
        if chosen:
            buttons.append(Button("visit:rep:done", ctx.t("button.done")))
        else:
            buttons.append(Button("visit:rep:solo", ctx.t("visit.button.make_solo")))
        names = ctx.t("list.separator").join(name for _, name in chosen) or ctx.t("visit.none")
        return Prompt(ctx.t("visit.ask.companions", chosen=names), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "text":
            fragment = text_answer(inbound.text, limit=20)
            found = await people.find_representatives(
                ctx.session,
                fragment=fragment,
                exclude_id=ctx.representative_id,
                limit=ctx.settings.visits.search_results,
            )
            if not found:
                raise InvalidInput("visit.error.no_rep", query=fragment)
            ctx.draft["rep_candidates"] = [[rep.id, representative_label(ctx, rep)] for rep in found]
            return Outcome.STAY
        choice = inbound.data.removeprefix("visit:rep:")
        chosen: list[list[Any]] = list(ctx.draft.get("companions", []))
        if choice == "done":
            ctx.draft["companions_ok"] = True
            return Outcome.NEXT
        if choice == "solo":
            ctx.draft["collective"] = False
            ctx.draft["companions"] = []
            return Outcome.NEXT
        rep_id = int(choice)
        if any(existing_id == rep_id for existing_id, _ in chosen):
            chosen = [pair for pair in chosen if pair[0] != rep_id]
        else:
            label = next(
                (name for candidate_id, name in ctx.draft.get("rep_candidates", []) if candidate_id == rep_id),
                None,
            )
            if label is None:
                raise InvalidInput("dialog.stale_button")
            chosen.append([rep_id, label])
        ctx.draft["companions"] = chosen
        return Outcome.STAY


def representative_label(ctx: Context, rep: Representative) -> str:
    return ctx.t("visit.rep_label", name=rep.name, code=rep.code)


class RoundStep(Step):
    key = "round"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"rounds": ctx.settings.quota.centralized_rounds_per_year}

    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("round_offered"))

    async def prompt(self, ctx: Context) -> Prompt:
        current = visits.round_id(self._day(ctx), per_year=ctx.settings.quota.centralized_rounds_per_year)
        return Prompt(
            ctx.t("visit.ask.round"),
            (
                Button("visit:round:routine", ctx.t("visit.routine")),
                Button(f"visit:round:{current}", round_name(ctx, current or "")),
            ),
        )

    def _day(self, ctx: Context) -> date:
        return date.fromisoformat(ctx.draft.get("visited_on", ctx.today.isoformat()))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["round"] = inbound.data.removeprefix("visit:round:")
        return Outcome.NEXT


def round_name(ctx: Context, round_code: str) -> str:
    """日常走访, or 集中走访（2026年下半年）."""
    if round_code in ("", visits.ROUTINE):
        return ctx.t("visit.routine")
    return ctx.t("visit.centralized", round=round_label(ctx, round_code))


class NotesStep(Step):
    key = "notes"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.visits.max_note_length}

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("visit.ask.notes", limit=ctx.settings.visits.max_note_length),
            (Button("visit:notes:skip", ctx.t("button.skip")),),
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            ctx.draft["notes"] = ""
        else:
            ctx.draft["notes"] = text_answer(inbound.text, limit=ctx.settings.visits.max_note_length)
        return Outcome.NEXT


class PhotosStep(Step):
    key = "photos_ok"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"photo"})

    async def prompt(self, ctx: Context) -> Prompt:
        count = len(ctx.draft.get("photos", []))
        if count:
            return Prompt(
                ctx.t("visit.ask.more_photos", count=count, limit=MAX_PHOTOS),
                (
                    Button("visit:photos:done", ctx.t("button.done")),
                    Button("visit:photos:clear", ctx.t("visit.button.clear_photos")),
                ),
            )
        return Prompt(ctx.t("visit.ask.photos"), (Button("visit:photos:done", ctx.t("button.skip")),))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data == "visit:photos:clear":
            ctx.draft["photos"] = []
            return Outcome.STAY
        if inbound.kind == "button":
            ctx.draft["photos_ok"] = True
            return Outcome.NEXT
        photos = list(ctx.draft.get("photos", []))
        if len(photos) >= MAX_PHOTOS:
            raise InvalidInput("visit.error.too_many_photos", limit=MAX_PHOTOS)
        photos.append(inbound.photo)
        ctx.draft["photos"] = photos
        return Outcome.STAY


class LocationStep(Step):
    key = "location"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"location"})

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("visit.ask.location"), (Button("visit:loc:skip", ctx.t("button.skip")),), ask="location")

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            ctx.draft["location"] = None
            return Outcome.NEXT
        ctx.draft["location"] = coordinates(inbound, invalid="visit.error.bad_location")
        return Outcome.NEXT


class DateStep(Step):
    """Filled with today at the start; asked only when the representative edits it from the confirmation."""

    key = "visited_on"
    silent = True

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("visit.ask.date"),
            (Button("visit:date:0", ctx.t("visit.today")), Button("visit:date:1", ctx.t("visit.yesterday"))),
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            day = visit_day({"visit:date:0": "today", "visit:date:1": "yesterday"}[inbound.data], today=ctx.today)
        else:
            day = visit_day(inbound.text, today=ctx.today)
        ctx.draft["visited_on"] = day.isoformat()
        # A centralized round belongs to a half-year: a date in another one asks the round again.
        chosen = ctx.draft.get("round", visits.ROUTINE)
        per_year = ctx.settings.quota.centralized_rounds_per_year
        if chosen != visits.ROUTINE and chosen != visits.round_id(day, per_year=per_year):
            ctx.draft.pop("round", None)
        return Outcome.NEXT


def summary(ctx: Context) -> str:
    draft = ctx.draft
    household = household_text(ctx)
    mode = ctx.settings.visits.mode(draft.get("mode", ""))
    companions = ctx.t("list.separator").join(name for _, name in draft.get("companions", []))
    location = draft.get("location")
    lines = [
        ctx.t("visit.summary.date", date=draft.get("visited_on", "")),
        ctx.t("visit.summary.household", household=household),
        ctx.t("visit.summary.mode", mode=mode.label(ctx.language) if mode else ""),
        ctx.t(
            "visit.summary.categories",
            categories=category_names(ctx, draft.get("categories", [])),
            party=ctx.t("visit.party_member") if draft.get("party_member") else ctx.t("visit.non_party"),
        )
        if correctable(draft)
        else ctx.t("visit.summary.categories_elsewhere", categories=category_names(ctx, draft.get("categories", []))),
        ctx.t("visit.summary.collective", how=ctx.t("visit.group_with", names=companions))
        if draft.get("collective")
        else ctx.t("visit.summary.collective", how=ctx.t("visit.solo")),
        ctx.t("visit.summary.round", round=round_name(ctx, draft.get("round", visits.ROUTINE))),
        ctx.t("visit.summary.notes", notes=draft.get("notes") or ctx.t("visit.none")),
        ctx.t("visit.summary.photos", count=len(draft.get("photos", []))),
        ctx.t(
            "visit.summary.location",
            location=f"{location[0]:.5f}, {location[1]:.5f}" if location else ctx.t("visit.none"),
        ),
    ]
    return "\n".join(lines)


HOUSEHOLD, NEW_ADDRESS, NEW_HEAD, NEW_PHONE = HouseholdStep(), NewAddressStep(), NewHeadStep(), NewPhoneStep()
NEW_AREA = NewAreaStep()
MODE, CATEGORIES, COLLECTIVE, COMPANIONS = ModeStep(), CategoriesStep(), CollectiveStep(), CompanionsStep()
ROUND, NOTES, PHOTOS, LOCATION, DATE = RoundStep(), NotesStep(), PhotosStep(), LocationStep(), DateStep()
# What the confirmation screen offers to change, in the order of the summary.
EDITABLE = (DATE, HOUSEHOLD, NEW_ADDRESS, NEW_HEAD, NEW_PHONE, NEW_AREA, MODE, CATEGORIES, COLLECTIVE, COMPANIONS,
            ROUND, NOTES, PHOTOS, LOCATION)  # fmt: skip


class VisitFlow(Flow):
    name = "visit"
    action = Action.LOG_VISIT
    steps = (
        HOUSEHOLD,
        NEW_ADDRESS,
        NEW_HEAD,
        NEW_PHONE,
        NEW_AREA,
        MODE,
        CATEGORIES,
        COLLECTIVE,
        COMPANIONS,
        ROUND,
        NOTES,
        PHOTOS,
        LOCATION,
        DATE,
        ConfirmStep("visit", summary=summary, editable=EDITABLE),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        """Today's date, and whatever a quick form such as `走访 幸福路12号 入户 路灯坏了` already says."""
        policy.require(ctx.standing, Action.LOG_VISIT)  # before anything is searched, whoever calls this
        ctx.draft["visited_on"] = ctx.today.isoformat()
        ctx.draft["round_offered"] = ctx.settings.quota.centralized_rounds_per_year > 0
        if not ctx.draft["round_offered"]:
            ctx.draft["round"] = visits.ROUTINE
        words = arguments.split()
        if not words:
            return
        query = words.pop(0)
        for index, word in enumerate(words):
            mode = next(
                (m for m in ctx.settings.visits.modes if word.casefold() in (m.zh, m.en.casefold(), m.code)),
                None,
            )
            if mode is not None:
                ctx.draft["mode"] = mode.code
                words.pop(index)
                break
        if words:
            # A note the notes step would refuse is left for that step to ask again, with its reason.
            with contextlib.suppress(InvalidInput):
                ctx.draft["notes"] = text_answer(" ".join(words), limit=ctx.settings.visits.max_note_length)
        found = await search_households(ctx, text_answer(query, limit=50))
        if len(found) == 1:
            # The search read the one household it found: it is opened without reading it again.
            households.record_opened(ctx.session, household_id=found[0].id, actor=ctx.actor)
            choose_household(ctx, found[0])

    async def finish(self, ctx: Context) -> list[Reply]:
        await recheck_area(ctx)
        draft = ctx.draft
        rep_id = ctx.representative_id
        ledger = draft.get("ledger", {"categories": [], "party_member": None})
        if correctable(draft):
            chosen, party = set(draft.get("categories", [])), bool(draft.get("party_member"))
        else:  # outside their areas there is nothing they may correct
            chosen, party = set(ledger["categories"]), ledger["party_member"]
        new = None
        if registering(draft):
            new = NewHousehold(
                area_id=int(draft["new_area"]["id"]),
                address=draft["new_address"],
                head_name=draft["new_head"],
                phone=draft.get("new_phone", ""),
            )
        location = draft.get("location")
        record = VisitRecord(
            representative_id=rep_id,
            visited_on=date.fromisoformat(draft["visited_on"]),
            mode=draft["mode"],
            round=draft.get("round", visits.ROUTINE),
            collective=bool(draft.get("collective")),
            household_id=None if new else int(draft["household"]["id"]),
            new_household=new,
            categories_added=tuple(sorted(chosen - set(ledger["categories"]))),
            categories_removed=tuple(sorted(set(ledger["categories"]) - chosen)),
            party_member=None if party == ledger["party_member"] else party,
            companion_ids=tuple(int(rep_id) for rep_id, _ in draft.get("companions", [])),
            notes=draft.get("notes", ""),
            photos=tuple(draft.get("photos", [])),
            latitude=location[0] if location else None,
            longitude=location[1] if location else None,
        )
        visit = await visits.record_visit(
            ctx.session, record=record, settings=ctx.settings, today=ctx.today, viewer=ctx.standing, now=ctx.now
        )
        progress = await visits.progress(ctx.session, representative_id=rep_id, today=ctx.today, settings=ctx.settings)
        text = ctx.t("visit.saved", id=visit.id, summary=summary(ctx)) + "\n\n" + progress_text(ctx, progress)
        # What the household asked is offered as a case at once; "诉求" typed later offers this visit too.
        offer = (Button(f"{COMMAND_BUTTON}/request", ctx.t("visit.button.request")),)
        return [Reply(text + "\n\n" + ctx.t("visit.offer_request"), offer)]
