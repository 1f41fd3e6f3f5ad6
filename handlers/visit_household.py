"""The household a visit is to: found by address (anywhere) or by name (in one's own areas), or registered anew, and
its categories as the representative may see and correct them at the door."""

from __future__ import annotations

from typing import Any, ClassVar

from handlers.dialogs import Context, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind
from handlers.inputs import optional_phone, person_name, text_answer
from storage.errors import InvalidInput
from storage.records import households
from storage.records.households import HouseholdBrief
from storage.text import normalise

ADDRESS_LIMIT = 200


def household_label(ctx: Context, brief: HouseholdBrief) -> str:
    """The address, the head's masked name where the representative may read it, and a mark when it lies
    outside their areas."""
    own = "" if brief.own_area else ctx.t("visit.other_area")
    head = f" {brief.head}" if brief.head else ""
    return f"{brief.address}{head}{own}"


def category_names(ctx: Context, codes: list[str]) -> str:
    """Categories in the order config.toml lists them."""
    chosen = set(codes)
    labels = [label.label(ctx.language) for label in ctx.settings.households.categories() if label.code in chosen]
    return ctx.t("list.separator").join(labels) or ctx.t("visit.none")


def choose_household(ctx: Context, brief: HouseholdBrief) -> None:
    """The household the visit is to."""
    ctx.draft["household"] = {"id": brief.id, "label": household_label(ctx, brief), "own": brief.own_area}
    # The ledger as it was when the household was chosen: on saving, only the representative's own
    # corrections are applied, so that someone else's correction in the meantime is not undone.
    ctx.draft["ledger"] = {"categories": list(brief.categories), "party_member": brief.party_member}
    ctx.draft["categories"] = list(brief.categories)
    ctx.draft["party_member"] = brief.party_member
    ctx.draft.pop("categories_ok", None)


def correctable(draft: dict[str, Any]) -> bool:
    """Whether the representative may correct the household's categories: only in their own areas (a household
    they register is in one of them)."""
    household = draft.get("household", {})
    return bool(household.get("new") or household.get("own"))


async def recheck_area(ctx: Context) -> None:
    """The household's area may have left the representative since it was chosen (a roster import): then its
    categories are no longer theirs to see in full or to correct, and the draft forgets what it showed of them.
    Asked when the visit is saved (the categories step follows the choice at once)."""
    household = ctx.draft.get("household", {})
    if not household.get("own") or "id" not in household:
        return
    if await households.in_own_areas(
        ctx.session, household_id=int(household["id"]), representative_id=ctx.representative_id
    ):
        return
    brief = await households.brief(
        ctx.session,
        household_id=int(household["id"]),
        viewer=ctx.standing,
        sensitive=ctx.settings.households.sensitive(),
    )
    answered = ctx.draft.get("categories_ok")
    choose_household(ctx, brief)
    if answered:
        ctx.draft["categories_ok"] = True


async def search_households(ctx: Context, fragment: str) -> list[HouseholdBrief]:
    """The best matches; one more is fetched only to know whether to ask for a more precise fragment."""
    shown = ctx.settings.visits.search_results
    found = await households.search(
        ctx.session,
        fragment=fragment,
        viewer=ctx.standing,
        limit=shown + 1,
        sensitive=ctx.settings.households.sensitive(),
    )
    ctx.draft["query"] = fragment
    ctx.draft["more"] = len(found) > shown
    ctx.draft["candidates"] = [[brief.id, household_label(ctx, brief)] for brief in found[:shown]]
    return found[:shown]


class HouseholdStep(Step):
    key = "household"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text"})
    resets = ("new_address", "new_head", "new_phone", "new_area", "categories_ok", "candidates", "query", "more")

    async def prompt(self, ctx: Context) -> Prompt:
        candidates = ctx.draft.get("candidates", [])
        buttons = [Button(f"visit:hh:{household_id}", label) for household_id, label in candidates]
        buttons.append(Button("visit:hh:new", ctx.t("visit.button.new_household")))
        if "query" not in ctx.draft:
            text = ctx.t("visit.ask.household")
        elif candidates:
            text = ctx.t("visit.ask.pick_household", query=ctx.draft["query"])
            if ctx.draft.get("more"):
                text += "\n" + ctx.t("visit.ask.more_matches", count=len(candidates))
        else:
            text = ctx.t("visit.ask.no_household", query=ctx.draft["query"])
        return Prompt(text, tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "text":
            await search_households(ctx, text_answer(inbound.text, limit=50))
            return Outcome.STAY
        choice = inbound.data.removeprefix("visit:hh:")
        if choice == "new":
            areas = await households.representative_areas(ctx.session, representative_id=ctx.representative_id)
            if not areas:
                raise InvalidInput("visit.error.no_areas")
            ctx.draft["household"] = {"new": True}
            ctx.draft.pop("ledger", None)
            ctx.draft["categories"] = []
            ctx.draft["party_member"] = False
            if len(areas) == 1:
                ctx.draft["new_area"] = {"id": areas[0].id, "name": areas[0].name}
            return Outcome.NEXT
        brief = await households.brief(
            ctx.session, household_id=int(choice), viewer=ctx.standing, sensitive=ctx.settings.households.sensitive()
        )
        choose_household(ctx, brief)
        return Outcome.NEXT


def registering(draft: dict[str, Any]) -> bool:
    return bool(draft.get("household", {}).get("new"))


class RegistrationStep(Step):
    """A question asked only while registering a household that is not in the ledger yet."""

    def applies(self, draft: dict[str, Any]) -> bool:
        return registering(draft)


class NewAddressStep(RegistrationStep):
    key = "new_address"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("visit.ask.new_address"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        address = normalise(text_answer(inbound.text, limit=ADDRESS_LIMIT))
        if len(address) < 4:
            raise InvalidInput("visit.error.address_short")
        if await households.exists_at(ctx.session, address=address):
            raise InvalidInput("visit.error.address_exists", address=address)
        ctx.draft["new_address"] = address
        return Outcome.NEXT


class NewHeadStep(RegistrationStep):
    key = "new_head"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("visit.ask.new_head"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["new_head"] = person_name(inbound.text)
        return Outcome.NEXT


class NewPhoneStep(RegistrationStep):
    key = "new_phone"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text", "contact"})

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("visit.ask.new_phone"), (Button("visit:phone:skip", ctx.t("button.skip")),))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["new_phone"] = optional_phone(inbound)
        return Outcome.NEXT


class NewAreaStep(RegistrationStep):
    key = "new_area"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        areas = await households.representative_areas(ctx.session, representative_id=ctx.representative_id)
        return Prompt(ctx.t("visit.ask.new_area"), tuple(Button(f"visit:area:{area.id}", area.name) for area in areas))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        area_id = int(inbound.data.removeprefix("visit:area:"))
        areas = await households.representative_areas(ctx.session, representative_id=ctx.representative_id)
        area = next((area for area in areas if area.id == area_id), None)
        if area is None:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["new_area"] = {"id": area.id, "name": area.name}
        return Outcome.NEXT


class CategoriesStep(Step):
    """The ledger's categories, shown for the representative to confirm or correct at the door."""

    key = "categories_ok"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        chosen = set(ctx.draft.get("categories", []))
        if not correctable(ctx.draft):  # outside their areas: what may be shown, to confirm, not to change
            text = ctx.t(
                "visit.ask.categories_elsewhere",
                household=household_text(ctx),
                current=category_names(ctx, sorted(chosen)),
            )
            return Prompt(text, (Button("visit:cat:ok", ctx.t("button.confirm")),))
        mark = ctx.t("visit.mark.on")
        must_visit = {label.code for label in ctx.settings.households.must_visit}
        buttons = [
            Button(
                f"visit:cat:{label.code}",
                (mark if label.code in chosen else "")
                + (
                    ctx.t("visit.must_visit", name=label.label(ctx.language))
                    if label.code in must_visit
                    else label.label(ctx.language)
                ),
                aliases=(label.label(ctx.language),),
            )
            for label in ctx.settings.households.categories()
        ]
        party = ctx.t("visit.party_member") if ctx.draft.get("party_member") else ctx.t("visit.non_party")
        buttons.append(Button("visit:cat:party", ctx.t("visit.button.toggle_party", current=party)))
        buttons.append(Button("visit:cat:ok", ctx.t("button.confirm")))
        text = ctx.t(
            "visit.ask.categories",
            household=household_text(ctx),
            current=category_names(ctx, sorted(chosen)),
            party=party,
        )
        return Prompt(text, tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        choice = inbound.data.removeprefix("visit:cat:")
        if choice == "ok":
            ctx.draft["categories_ok"] = True
            return Outcome.NEXT
        if not correctable(ctx.draft):
            raise InvalidInput("dialog.stale_button")
        if choice == "party":
            ctx.draft["party_member"] = not ctx.draft.get("party_member", False)
            return Outcome.STAY
        if ctx.settings.households.category(choice) is None:
            raise InvalidInput("dialog.stale_button")
        chosen = set(ctx.draft.get("categories", []))
        chosen.symmetric_difference_update({choice})
        ctx.draft["categories"] = sorted(chosen)
        return Outcome.STAY


def household_text(ctx: Context) -> str:
    draft = ctx.draft
    if registering(draft):
        phone = draft.get("new_phone")
        return ctx.t(
            "visit.summary.new_household",
            address=draft.get("new_address", ""),
            head=households.mask_name(draft.get("new_head", "")),
            area=draft.get("new_area", {}).get("name", ""),
            phone=households.mask_phone(phone) if phone else ctx.t("visit.no_phone"),
        )
    return str(draft.get("household", {}).get("label", ""))
