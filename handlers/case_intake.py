"""Raising a concern: a resident's letter to the representative mailbox (/mailbox, or a contact card's link) and a
representative's report of what a resident asked (/request, offered after every visit). Both end as a case
(storage.records.cases): a number, a deadline, and everyone concerned told."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from handlers.dialogs import ConfirmStep, Context, Flow, Outcome, Prompt, Step, YesNoStep
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.inputs import coordinates, optional_phone, person_name, text_answer
from handlers.mailbox import card_lines
from handlers.notices import render
from storage.errors import InvalidInput, NotAllowed, NotFound
from storage.models import Case
from storage.policy import Action
from storage.records import cases, households, mailbox, visits
from storage.records.cases import Intake
from storage.records.mailbox import CardData
from storage.workdays import calendar_of

MIN_TEXT = 5  # fewer characters cannot say where and what
MAX_PHOTOS = 5
RECENT_VISIT = timedelta(minutes=30)  # a report right after a visit is offered as about that household


def introduction(ctx: Context) -> str:
    """Through a contact card, whom the letter goes to: the first thing the writer reads."""
    if "rep" not in ctx.draft:
        return ""
    return ctx.t("mailbox.intro", **card_lines(ctx.language, CardData(**ctx.draft["rep"]))) + "\n\n"


def place_label(ctx: Context, area: str, station: str) -> str:
    return ctx.t("case.place", area=area, station=station)


def category_label(ctx: Context, code: str) -> str:
    category = ctx.settings.cases.category(code)
    return code if category is None else category.label(ctx.language)


class PlaceStep(Step):
    """Where the resident lives, found once by a community, village or street name and remembered."""

    key = "area_id"
    resets = ("place", "places", "similar", "join")
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text"})

    def applies(self, draft: dict[str, Any]) -> bool:
        return "rep" not in draft and not draft.get("report")

    async def prompt(self, ctx: Context) -> Prompt:
        found = ctx.draft.get("places", [])
        if found:
            buttons = tuple(
                Button(f"case:place:{area_id}", place_label(ctx, area, station)) for area_id, area, station in found
            )
            return Prompt(ctx.t("case.ask.place_pick"), buttons)
        return Prompt(ctx.t("case.ask.place"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            area_id = int(inbound.data.removeprefix("case:place:"))
            listed = [found for found in ctx.draft.get("places", []) if found[0] == area_id]
            if not listed:
                raise InvalidInput("dialog.stale_button")
            return self._chosen(ctx, area_id, place_label(ctx, listed[0][1], listed[0][2]))
        typed = text_answer(inbound.text, limit=50)
        listed = ctx.draft.get("places", [])
        if listed and typed.isdigit() and typed.isascii():  # a number beyond the list, not a place's name
            raise InvalidInput("dialog.out_of_range", count=len(listed))
        places = await cases.find_places(ctx.session, text=typed)
        if not places:
            ctx.draft.pop("places", None)
            raise InvalidInput("case.error.no_place", text=typed)
        if len(places) == 1:
            return self._chosen(ctx, places[0].area_id, place_label(ctx, places[0].area, places[0].station))
        ctx.draft["places"] = [[place.area_id, place.area, place.station] for place in places]
        return Outcome.STAY

    def _chosen(self, ctx: Context, area_id: int, label: str) -> Outcome:
        ctx.draft.pop("places", None)
        ctx.draft["area_id"] = area_id
        ctx.draft["place"] = label
        ctx.identity.area_id = area_id  # remembered for the next letter
        ctx.session.add(ctx.identity)
        return Outcome.NEXT


class OwnAreaStep(Step):
    """Which of their areas a representative's report concerns (asked only when they serve several)."""

    key = "area_id"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("report"))

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = tuple(Button(f"case:area:{area_id}", name) for area_id, name in ctx.draft.get("own_areas", []))
        return Prompt(ctx.t("case.ask.own_area"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        area_id = int(inbound.data.removeprefix("case:area:"))
        if not any(area_id == own[0] for own in ctx.draft.get("own_areas", [])):
            raise InvalidInput("dialog.stale_button")
        ctx.draft["area_id"] = area_id
        return Outcome.NEXT


class AboutVisitStep(Step):
    """Right after a visit, whether the report concerns the household just visited."""

    key = "about_visit"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def applies(self, draft: dict[str, Any]) -> bool:
        return "recent_visit" in draft

    async def prompt(self, ctx: Context) -> Prompt:
        visit = ctx.draft["recent_visit"]
        return Prompt(
            ctx.t("case.ask.about_visit", address=visit["address"]),
            (
                Button("case:visit:yes", ctx.t("case.button.this_household")),
                Button("case:visit:no", ctx.t("case.button.other_matter")),
            ),
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        about = inbound.data == "case:visit:yes"
        ctx.draft["about_visit"] = about
        if about:
            ctx.draft["area_id"] = ctx.draft["recent_visit"]["area_id"]
        elif len(ctx.draft.get("own_areas", [])) > 1:
            ctx.draft.pop("area_id", None)
        return Outcome.NEXT


class CategoryStep(Step):
    key = "category"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    resets = ("similar", "join")

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = tuple(
            Button(f"case:cat:{category.code}", category.label(ctx.language))
            for category in ctx.settings.cases.categories
        )
        return Prompt(introduction(ctx) + ctx.t("case.ask.category"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        code = inbound.data.removeprefix("case:cat:")
        if ctx.settings.cases.category(code) is None:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["category"] = code
        return Outcome.NEXT


class DescriptionStep(Step):
    key = "text"
    resets = ("similar", "join")

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"min": MIN_TEXT, "max": ctx.settings.cases.max_text_length}

    async def prompt(self, ctx: Context) -> Prompt:
        key = "case.ask.report_text" if ctx.draft.get("report") else "case.ask.text"
        return Prompt(ctx.t(key, min=MIN_TEXT, max=ctx.settings.cases.max_text_length))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        text = text_answer(inbound.text, limit=ctx.settings.cases.max_text_length)
        if len(text) < MIN_TEXT:
            raise InvalidInput("mailbox.error.too_short", min=MIN_TEXT)
        ctx.draft["text"] = text
        if not ctx.draft.get("report"):
            similar = await cases.similar_open(
                ctx.session,
                area_id=ctx.draft.get("area_id"),
                category=ctx.draft["category"],
                text=text,
                now=ctx.now,
            )
            ctx.draft["similar"] = [[case.id, case.number, case.text[:60]] for case in similar]
        return Outcome.NEXT


class SimilarStep(Step):
    """A concern like an open case of the same area: join it ("this affects me too") or write a new one."""

    key = "join"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def applies(self, draft: dict[str, Any]) -> bool:
        return bool(draft.get("similar"))

    async def prompt(self, ctx: Context) -> Prompt:
        lines = [ctx.t("case.similar.line", number=number, text=text) for _, number, text in ctx.draft["similar"]]
        buttons = [
            Button(f"case:join:{case_id}", ctx.t("case.button.join", number=number))
            for case_id, number, _ in ctx.draft["similar"]
        ]
        buttons.append(Button("case:join:new", ctx.t("case.button.new_case")))
        return Prompt(ctx.t("case.ask.similar", cases="\n".join(lines)), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        chosen = inbound.data.removeprefix("case:join:")
        if chosen == "new":
            ctx.draft["join"] = None
            return Outcome.NEXT
        if not any(str(case_id) == chosen for case_id, _, _ in ctx.draft["similar"]):
            raise InvalidInput("dialog.stale_button")
        ctx.draft["join"] = int(chosen)
        return Outcome.FINISH


class ExtrasStep(Step):
    """Photos and where it is, both optional."""

    key = "extras_done"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"photo", "location"})

    async def prompt(self, ctx: Context) -> Prompt:
        count = len(ctx.draft.get("photos", []))
        located = "location" in ctx.draft
        lines = [ctx.t("case.location_kept")] if located else []
        if count:
            lines.append(ctx.t("case.ask.more_extras", count=count, limit=MAX_PHOTOS))
        elif located:
            lines.append(ctx.t("case.ask.photos_after_location", limit=MAX_PHOTOS))
        else:
            lines.append(ctx.t("case.ask.extras", limit=MAX_PHOTOS))
        done = ctx.t("button.done") if count or located else ctx.t("button.skip")
        return Prompt("\n".join(lines), (Button("case:extras:done", done),), ask=None if located else "location")

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            ctx.draft["extras_done"] = True
            return Outcome.NEXT
        if inbound.kind == "location":
            ctx.draft["location"] = coordinates(inbound, invalid="visit.error.bad_location")
            return Outcome.STAY
        photos = list(ctx.draft.get("photos", []))
        if len(photos) >= MAX_PHOTOS:
            raise InvalidInput("visit.error.too_many_photos", limit=MAX_PHOTOS)
        ctx.draft["photos"] = [*photos, inbound.photo]
        return Outcome.STAY


class ResidentStep(Step):
    """A question for a resident who writes (not for a representative's report)."""

    def applies(self, draft: dict[str, Any]) -> bool:
        return not draft.get("report")


class AnonymousStep(ResidentStep, YesNoStep):
    key = "anonymous"
    question = "mailbox.ask.anonymous"
    yes, no, no_first = "mailbox.button.anonymous", "mailbox.button.named", True
    data = "mailbox:anon"

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        outcome = await super().receive(ctx, inbound)
        if ctx.draft["anonymous"]:  # an anonymous letter keeps no name or phone, not even in the draft
            for key in ("name", "phone", "consent"):
                ctx.draft.pop(key, None)
        return outcome


class NamedStep(ResidentStep):
    """Asked only when the writer signs the letter."""

    def applies(self, draft: dict[str, Any]) -> bool:
        return super().applies(draft) and draft.get("anonymous") is False


class NameStep(NamedStep):
    key = "name"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("mailbox.ask.name"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["name"] = person_name(inbound.text)
        return Outcome.NEXT


class PhoneStep(NamedStep):
    key = "phone"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text", "contact"})
    resets = ("consent",)

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("mailbox.ask.phone"), (Button("mailbox:phone:skip", ctx.t("button.skip")),), ask="contact")

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["phone"] = optional_phone(inbound)
        return Outcome.NEXT


class ConsentStep(YesNoStep):
    """Whether the handling department may contact the resident (their phone is shown to it only then)."""

    key = "consent"
    data = "case:consent"

    def applies(self, draft: dict[str, Any]) -> bool:
        if draft.get("report"):
            return bool(draft.get("about_visit"))
        return draft.get("anonymous") is False and bool(draft.get("phone"))

    question = "case.ask.consent"

    async def prompt(self, ctx: Context) -> Prompt:
        asked = await super().prompt(ctx)
        return Prompt(ctx.t("case.ask.consent_report"), asked.buttons) if ctx.draft.get("report") else asked


def summary(ctx: Context) -> str:
    draft = ctx.draft
    lines = []
    if "rep" in draft:
        lines.append(ctx.t("mailbox.summary.to", **card_lines(ctx.language, CardData(**draft["rep"]))))
    if draft.get("about_visit"):
        lines.append(ctx.t("case.summary.household", address=draft["recent_visit"]["address"]))
    elif draft.get("place"):
        lines.append(ctx.t("case.summary.place", place=draft["place"]))
    lines.append(ctx.t("case.summary.category", category=category_label(ctx, draft.get("category", ""))))
    lines.append(ctx.t("mailbox.summary.text", text=draft.get("text", "")))
    extras = len(draft.get("photos", []))
    if extras or draft.get("location"):
        lines.append(
            ctx.t(
                "case.summary.extras",
                photos=extras,
                location=ctx.t("case.summary.located") if draft.get("location") else "",
            )
        )
    if not draft.get("report"):
        if draft.get("anonymous"):
            lines.append(ctx.t("mailbox.summary.anonymous"))
        else:
            phone = draft.get("phone") or ctx.t("mailbox.no_phone")
            lines.append(ctx.t("mailbox.summary.named", name=draft.get("name", ""), phone=phone))
    if "consent" in draft:
        lines.append(ctx.t("case.summary.consent_yes" if draft["consent"] else "case.summary.consent_no"))
    return "\n".join(lines)


PLACE, OWN_AREA, ABOUT_VISIT = PlaceStep(), OwnAreaStep(), AboutVisitStep()
CATEGORY, TEXT, SIMILAR, EXTRAS = CategoryStep(), DescriptionStep(), SimilarStep(), ExtrasStep()
ANONYMOUS, NAME, PHONE, CONSENT = AnonymousStep(), NameStep(), PhoneStep(), ConsentStep()


async def submit_case(ctx: Context, *, source: str) -> list[Reply]:
    """Register the drafted concern, or join the open case the writer chose; say its number and due date."""
    draft = ctx.draft
    render_notice = render
    if draft.get("join"):
        case = await cases.join(
            ctx.session,
            case_id=int(draft["join"]),
            resident=ctx.identity,
            now=ctx.now,
            settings=ctx.settings,
            render=render_notice,
        )
        # Who joined is known only to the relay: what is said to them is not kept once sent.
        return [Reply(ctx.t("case.joined", number=case.number), transient=True)]
    location = draft.get("location")
    card = CardData(**draft["rep"]) if "rep" in draft else None
    report = bool(draft.get("report"))
    visit = draft.get("recent_visit") if draft.get("about_visit") else None
    anonymous = bool(draft.get("anonymous")) and not report
    intake = Intake(
        source=source,
        category=draft["category"],
        text=draft["text"],
        area_id=draft.get("area_id"),
        representative_id=card.representative_id if card else (ctx.representative_id if report else None),
        household_id=visit["household_id"] if visit else None,
        visit_id=visit["id"] if visit else None,
        link_token=draft.get("link"),
        latitude=location[0] if location else None,
        longitude=location[1] if location else None,
        photos=tuple(draft.get("photos", [])),
        anonymous=anonymous,
        name="" if anonymous else draft.get("name", ""),
        phone="" if anonymous else draft.get("phone", ""),
        consent=bool(draft.get("consent")),
    )
    try:
        case = await cases.submit(
            ctx.session,
            intake=intake,
            writer=ctx.identity,
            actor=ctx.actor,
            settings=ctx.settings,
            calendar=calendar_of(ctx.settings),
            now=ctx.now,
            render=render_notice,
        )
    except NotFound as gone:  # left office since the card was scanned: no one to send it to
        return [Reply(ctx.t(gone.key, **gone.params))]
    due, assigned = registered(ctx, case)
    if report:
        return [Reply(ctx.t("case.reported", number=case.number, due=due) + assigned)]
    text = ctx.t("case.saved", number=case.number, due=due) + assigned
    text += "\n" + ctx.t("mailbox.next_anonymous" if anonymous else "mailbox.next_named")
    text += "\n" + ctx.t("case.follow_up", number=case.number)
    if card is not None and card.reception_day and card.station:
        text += "\n" + ctx.t("mailbox.next_reception", **card_lines(ctx.language, card))
    # An anonymous writer's acknowledgement names the case: it is not kept once sent (storage.records.relay).
    return [Reply(text, transient=anonymous)]


def registered(ctx: Context, case: Case) -> tuple[str, str]:
    """What a newly registered case's acknowledgement says of it: when it is due, and (a line) to whom it went."""
    due = ctx.t("case.due_provisional" if case.due_provisional else "case.due", due=case.due_on.isoformat())
    assigned = "\n" + ctx.t("case.assigned_to", department=case.department) if case.department else ""
    return due, assigned


class MailboxFlow(Flow):
    """A resident's letter (写信, 党代表信箱): to the representatives of their area, or through a contact card's
    link to that card's representative; named or anonymous."""

    name = "mailbox"
    action = Action.WRITE_MAILBOX
    steps = (
        PLACE,
        CATEGORY,
        TEXT,
        SIMILAR,
        EXTRAS,
        ANONYMOUS,
        NAME,
        PHONE,
        CONSENT,
        ConfirmStep(
            "mailbox", summary=summary, editable=(PLACE, CATEGORY, TEXT, EXTRAS, ANONYMOUS, NAME, PHONE, CONSENT)
        ),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        """Through a card: the representative behind its token (an unknown or withdrawn card opens nothing). Without
        one: the area the resident gave last time, if any."""
        if arguments.startswith(mailbox.START_PREFIX):
            await self._card(ctx, arguments.removeprefix(mailbox.START_PREFIX).strip())
        else:
            await mailbox.check_daily_limit(
                ctx.session,
                writer=ctx.identity,
                link_token=None,
                now=ctx.now,
                per_day=ctx.settings.limits.mailbox_items_per_day,
            )
            place = await cases.place_of(ctx.session, area_id=ctx.identity.area_id) if ctx.identity.area_id else None
            if place is not None:
                ctx.draft["area_id"] = place.area_id
                ctx.draft["place"] = place_label(ctx, place.area, place.station)

    async def _card(self, ctx: Context, token: str) -> None:
        if not token:
            raise NotFound("mailbox.error.unknown_link")
        representative = await mailbox.representative_for_token(ctx.session, token=token)
        assert representative.id is not None
        await mailbox.check_daily_limit(
            ctx.session,
            writer=ctx.identity,
            link_token=token,
            now=ctx.now,
            per_day=ctx.settings.limits.mailbox_items_per_day,
        )
        ctx.draft["link"] = token
        card = await mailbox.card_data(ctx.session, representative_id=representative.id)
        ctx.draft["rep"] = card.__dict__
        own = [
            area.id for area in await households.representative_areas(ctx.session, representative_id=representative.id)
        ]
        if ctx.identity.area_id in own:
            ctx.draft["area_id"] = ctx.identity.area_id
        else:
            ctx.draft["area_id"] = own[0] if own else None

    async def finish(self, ctx: Context) -> list[Reply]:
        return await submit_case(ctx, source="card" if "rep" in ctx.draft else "mailbox")


class RequestFlow(Flow):
    """A representative reports what a resident asked (反映诉求), about the household just visited or not."""

    name = "request"
    action = Action.REPORT_CASE
    steps = (
        ABOUT_VISIT,
        OWN_AREA,
        CATEGORY,
        TEXT,
        EXTRAS,
        CONSENT,
        ConfirmStep("request", summary=summary, editable=(CATEGORY, TEXT, EXTRAS, CONSENT)),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        rep_id = ctx.representative_id
        ctx.draft["report"] = True
        areas = await households.representative_areas(ctx.session, representative_id=rep_id)
        if not areas:
            raise NotAllowed("case.error.no_areas")
        ctx.draft["own_areas"] = [[area.id, area.name] for area in areas]
        if len(areas) == 1:
            ctx.draft["area_id"] = areas[0].id
        recent = await visits.latest_visit(ctx.session, representative_id=rep_id, since=ctx.now - RECENT_VISIT)
        if recent is not None:
            ctx.draft["recent_visit"] = recent

    async def finish(self, ctx: Context) -> list[Reply]:
        return await submit_case(ctx, source="report")
