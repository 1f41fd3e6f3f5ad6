"""The router: who is writing, which dialog they are in, and which command or flow answers them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.dialogs import Context, Engine
from handlers.events import Inbound, Reply
from handlers.i18n import t
from handlers.language import LanguageFlow, language_from_hint
from handlers.mailbox import MailboxFlow
from handlers.progress import progress_text
from handlers.visit import VisitFlow
from storage.db import Database
from storage.delivery import dialog_state
from storage.errors import LianxinError, redacted_traceback
from storage.models import ChatIdentity, utcnow
from storage.records import mailbox, people, visits
from storage.settings import Settings

log = logging.getLogger(__name__)

COMMANDS = frozenset({"start", "help", "visit", "progress", "lang"})
# Chinese words work like commands, so that nobody has to type a slash on a phone keyboard.
WORDS = {
    "走访": "visit",
    "进度": "progress",
    "帮助": "help",
    "语言": "lang",
    "开始": "start",
    "visit": "visit",
    "progress": "progress",
}
FLOW_COMMANDS = {"visit": "visit", "lang": "language"}
# What a dialog recognises as another command ("finish or cancel first") rather than an unknown one.
KNOWN_COMMANDS = COMMANDS | frozenset(WORDS)


@dataclass(frozen=True)
class Answer:
    replies: list[Reply]
    before: tuple[str, str]  # (role, language) when the event arrived
    after: tuple[str, str]  # and once it is handled


@dataclass(frozen=True)
class Command:
    name: str
    arguments: str


def parse_command(text: str) -> Command | None:
    """`/visit@bot 幸福路` and `走访 幸福路` both mean visit with arguments `幸福路`."""
    stripped = text.strip()
    if not stripped:
        return None
    head, _, rest = stripped.partition(" ")
    if head.startswith("/"):
        name = head[1:].split("@", 1)[0].lower()
        return Command(name, rest.strip())
    if head.lower() in WORDS:
        return Command(WORDS[head.lower()], rest.strip())
    return None


class Router:
    """Turns one inbound event into replies, inside one transaction: all of its changes commit, or none."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.engine = Engine([VisitFlow(), LanguageFlow(), MailboxFlow()])

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Replies to one event in a transaction of its own (the console's way; channels with an inbox and an
        outbox call `respond` inside the transaction that also records the event as handled)."""
        language = self.hinted_language(inbound)
        try:
            async with self.db.transaction() as session:
                return await self.respond(session, inbound)
        except LianxinError as problem:
            return [Reply(t(language, problem.key, **problem.params))]
        except Exception as error:
            log.error(
                "unexpected error handling a %s %s event %s\n%s",
                inbound.channel,
                inbound.kind,
                inbound.event_id,
                redacted_traceback(error),
            )
            return [Reply(t(language, "error.unexpected"))]

    async def preload(self, session: AsyncSession, inbounds: list[Inbound]) -> None:
        """Read who is writing and where they are in a dialog, for a batch of events handled in one transaction,
        in two statements instead of two per event."""
        for channel in {inbound.channel for inbound in inbounds}:
            users = [inbound.user_id for inbound in inbounds if inbound.channel == channel]
            await people.preload_identities(session, channel=channel, external_ids=users)
        keys = [(inbound.channel, inbound.chat_id, inbound.user_id) for inbound in inbounds]
        await dialog_state.preload(session, keys=keys)

    def hinted_language(self, inbound: Inbound) -> str:
        return language_from_hint(inbound.language) or self.settings.general.default_language

    async def respond(self, session: AsyncSession, inbound: Inbound) -> list[Reply]:
        """The replies to one event, inside the caller's transaction. An expected problem (bad input, not
        allowed) undoes this event's changes and becomes its reply; anything unexpected propagates."""
        return (await self.answer(session, inbound)).replies

    async def answer(self, session: AsyncSession, inbound: Inbound) -> Answer:
        """`respond`, and who the person is before and after (an invitation makes a representative, /lang
        changes the language), for channels that keep a menu per role and language."""
        identity = await people.identity_for(session, channel=inbound.channel, external_id=inbound.user_id)
        if identity.blocked_at is not None:  # writing again means they unblocked the bot
            identity.blocked_at = None
            session.add(identity)
        language = identity.language or self.hinted_language(inbound)
        before = (identity.role, language)
        try:
            async with session.begin_nested():
                replies = await self._handle(session, identity, language, inbound)
                after = (identity.role, identity.language or language)
        except LianxinError as problem:  # the savepoint is rolled back: the person is who they were
            return Answer([Reply(t(language, problem.key, **problem.params))], before, before)
        return Answer(replies, before, after)

    async def _handle(
        self, session: AsyncSession, identity: ChatIdentity, language: str, inbound: Inbound
    ) -> list[Reply]:
        now = self.clock()
        ctx = Context(
            session=session,
            settings=self.settings,
            identity=identity,
            language=language,
            now=now,
            today=now.astimezone(self.settings.zone).date(),
        )
        notes: list[Reply] = []
        state = await dialog_state.load(
            session, channel=inbound.channel, chat_id=inbound.chat_id, user_id=inbound.user_id
        )
        timeout = timedelta(minutes=self.settings.general.dialog_timeout_minutes)
        if state is not None and now - state.updated_at > timeout:
            await dialog_state.discard(session, state=state)
            notes.append(
                Reply(
                    ctx.t(
                        "dialog.expired",
                        flow=ctx.t(f"flow.{state.flow}"),
                        minutes=self.settings.general.dialog_timeout_minutes,
                    )
                )
            )
            state = None
            if inbound.kind == "button":  # the button belonged to the discarded dialog
                return notes
        if state is not None:
            return await self.engine.handle(ctx, state, inbound, KNOWN_COMMANDS)

        if inbound.kind == "button":
            return notes + await self._button(ctx, inbound)
        if inbound.kind != "text":
            return [*notes, Reply(ctx.t("router.not_in_dialog", kind=ctx.t(f"kind.{inbound.kind}")))]
        command = parse_command(inbound.text)
        if command is None:
            if people.looks_like_invitation(inbound.text):
                return notes + await self._redeem(ctx, inbound.text)
            return [*notes, self._help(ctx, short=True)]
        return notes + await self._command(ctx, inbound, command)

    async def _command(self, ctx: Context, inbound: Inbound, command: Command) -> list[Reply]:
        if command.name == "start":
            if command.arguments.startswith(mailbox.START_PREFIX):  # a contact card's deep link: its mailbox
                key = (inbound.channel, inbound.chat_id, inbound.user_id)
                return await self.engine.start(ctx, key, MailboxFlow.name, command.arguments)
            if command.arguments:
                return await self._redeem(ctx, command.arguments)
            return [Reply(ctx.t(f"start.{ctx.identity.role}")), self._help(ctx)]
        if command.name == "help":
            return [self._help(ctx)]
        if command.name == "progress":
            return await self._progress(ctx, command.arguments)
        if command.name in FLOW_COMMANDS:
            flow = self.engine.flows[FLOW_COMMANDS[command.name]]
            if ctx.identity.role not in flow.roles:
                raise ctx.representatives_only()
            key = (inbound.channel, inbound.chat_id, inbound.user_id)
            return await self.engine.start(ctx, key, flow.name, command.arguments)
        return [
            Reply(ctx.t("router.unknown_command", command=("/" + command.name)[:32])),
            self._help(ctx, short=True),
        ]

    async def _button(self, ctx: Context, inbound: Inbound) -> list[Reply]:
        return [Reply(ctx.t("dialog.stale_button")), self._help(ctx, short=True)]

    async def _redeem(self, ctx: Context, code: str) -> list[Reply]:
        representative = await people.redeem_invitation(ctx.session, identity=ctx.identity, code=code, now=ctx.now)
        return [Reply(ctx.t("invite.welcome", name=representative.name)), self._help(ctx)]

    async def _progress(self, ctx: Context, argument: str) -> list[Reply]:
        """Representatives see their own progress with households to visit next; leaders and the liaison office
        name a representative and see the figures only (the households are the representative's business)."""
        if ctx.identity.role in ("leader", "liaison"):
            if not argument:
                return [Reply(ctx.t("progress.which"))]
            representative = await people.representative_by_code(ctx.session, code=argument)
            assert representative.id is not None
            progress = await visits.progress(
                ctx.session, representative_id=representative.id, today=ctx.today, settings=ctx.settings
            )
            header = ctx.t("progress.of", name=representative.name, code=representative.code)
            return [Reply(header + "\n" + progress_text(ctx, progress, detail=True, own=False))]
        representative_id = ctx.representative_id
        progress = await visits.progress(
            ctx.session, representative_id=representative_id, today=ctx.today, settings=ctx.settings
        )
        suggestions = await visits.suggested_households(
            ctx.session, representative_id=representative_id, today=ctx.today, settings=ctx.settings, actor=ctx.actor
        )
        return [Reply(progress_text(ctx, progress, detail=True, suggestions=suggestions))]

    def _help(self, ctx: Context, *, short: bool = False) -> Reply:
        return Reply(ctx.t(f"help.{ctx.identity.role}.{'short' if short else 'full'}"))
