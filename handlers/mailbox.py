"""The mailbox flow (党代表信箱): a concern written to the representative of a scanned contact card, named or not."""

from __future__ import annotations

from typing import Any, ClassVar

from handlers.dialogs import ConfirmStep, Context, Flow, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import optional_phone, person_name, text_answer
from storage.errors import InvalidInput, NotFound
from storage.models import MailboxItem
from storage.policy import Action
from storage.records import mailbox
from storage.records.mailbox import CardData

MIN_TEXT = 5  # fewer characters cannot say where and what
MAX_TEXT = 2000


def level_name(language: str, level: str) -> str:
    """区级 / 镇级; a level the catalog does not know is shown as it is stored."""
    key = f"mailbox.level.{level}"
    name = t(language, key)
    return level if name == key else name


def card_lines(language: str, card: CardData) -> dict[str, str]:
    """The representative's details as every mailbox message shows them, with words for what is not set."""
    return {
        "name": card.name,
        "level": level_name(language, card.level),
        "station": card.station or t(language, "mailbox.no_station"),
        "reception_day": card.reception_day or t(language, "mailbox.no_reception_day"),
    }


def card_from_draft(draft: dict[str, Any]) -> CardData:
    return CardData(**draft["rep"])


class TextStep(Step):
    key = "text"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"min": MIN_TEXT, "max": MAX_TEXT}

    async def prompt(self, ctx: Context) -> Prompt:
        intro = ctx.t("mailbox.intro", **card_lines(ctx.language, card_from_draft(ctx.draft)))
        return Prompt(intro + "\n\n" + ctx.t("mailbox.ask.text", min=MIN_TEXT, max=MAX_TEXT))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        text = text_answer(inbound.text, limit=MAX_TEXT)
        if len(text) < MIN_TEXT:
            raise InvalidInput("mailbox.error.too_short", min=MIN_TEXT)
        ctx.draft["text"] = text
        return Outcome.NEXT


class AnonymousStep(Step):
    key = "anonymous"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("mailbox.ask.anonymous"),
            (
                Button("mailbox:anon:no", ctx.t("mailbox.button.named")),
                Button("mailbox:anon:yes", ctx.t("mailbox.button.anonymous")),
            ),
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data not in ("mailbox:anon:no", "mailbox:anon:yes"):
            raise InvalidInput("dialog.stale_button")
        anonymous = inbound.data == "mailbox:anon:yes"
        ctx.draft["anonymous"] = anonymous
        if anonymous:  # an anonymous letter keeps no name or phone, not even in the draft
            ctx.draft.pop("name", None)
            ctx.draft.pop("phone", None)
        return Outcome.NEXT


class NamedStep(Step):
    """A question asked only when the writer signs the letter."""

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("anonymous") is False


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

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("mailbox.ask.phone"), (Button("mailbox:phone:skip", ctx.t("button.skip")),), ask="contact")

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["phone"] = optional_phone(inbound)
        return Outcome.NEXT


def signature(ctx: Context) -> str:
    draft = ctx.draft
    if draft.get("anonymous"):
        return ctx.t("mailbox.summary.anonymous")
    return ctx.t(
        "mailbox.summary.named",
        name=draft.get("name", ""),
        phone=draft.get("phone") or ctx.t("mailbox.no_phone"),
    )


def summary(ctx: Context) -> str:
    lines = card_lines(ctx.language, card_from_draft(ctx.draft))
    return "\n".join(
        [
            ctx.t("mailbox.summary.to", **lines),
            ctx.t("mailbox.summary.text", text=ctx.draft.get("text", "")),
            signature(ctx),
        ]
    )


def notice(item: MailboxItem, language: str) -> dict[str, Any]:
    """What the representative's own chats are told of a new item, in their language. An anonymous item's notice
    carries no name or phone (the item has none)."""
    if item.anonymous:
        text = t(language, "mailbox.notify.anonymous", id=item.id, text=item.text)
    else:
        phone = item.phone or t(language, "mailbox.no_phone")
        text = t(language, "mailbox.notify.named", id=item.id, text=item.text, name=item.name, phone=phone)
    return Reply(text).to_payload()


TEXT, ANONYMOUS, NAME, PHONE = TextStep(), AnonymousStep(), NameStep(), PhoneStep()


class MailboxFlow(Flow):
    """Opened by a contact card's deep link (/start m_<token>); anyone may write, residents above all."""

    name = "mailbox"
    action = Action.WRITE_MAILBOX
    steps = (
        TEXT,
        ANONYMOUS,
        NAME,
        PHONE,
        ConfirmStep("mailbox", summary=summary, editable=(TEXT, ANONYMOUS, NAME, PHONE)),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        """The representative behind the card's token; an unknown or withdrawn card opens nothing."""
        token = arguments.strip().removeprefix(mailbox.START_PREFIX)
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
        ctx.draft["rep"] = {
            "representative_id": card.representative_id,
            "code": card.code,
            "name": card.name,
            "level": card.level,
            "station": card.station,
            "station_address": card.station_address,
            "reception_day": card.reception_day,
        }

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        card = card_from_draft(draft)
        anonymous = bool(draft.get("anonymous"))
        try:
            item = await mailbox.submit(
                ctx.session,
                representative_id=card.representative_id,
                writer=ctx.identity,
                link_token=draft.get("link"),
                text=draft["text"],
                anonymous=anonymous,
                name="" if anonymous else draft.get("name", ""),
                phone="" if anonymous else draft.get("phone", ""),
                now=ctx.now,
                notice=notice,
                default_language=ctx.settings.general.default_language,
                per_day=ctx.settings.limits.mailbox_items_per_day,
            )
        except NotFound as gone:  # left office since the card was scanned: no one to send it to, so the dialog ends
            return [Reply(ctx.t(gone.key, **gone.params))]
        lines = card_lines(ctx.language, card)
        text = ctx.t("mailbox.saved", id=item.id, name=card.name)
        text += "\n" + ctx.t("mailbox.next_anonymous" if anonymous else "mailbox.next_named")
        if card.reception_day and card.station:
            text += "\n" + ctx.t("mailbox.next_reception", **lines)
        # An anonymous writer's acknowledgement names the item: it is not kept once sent (storage.records.relay).
        return [Reply(text, transient=anonymous)]
