"""The router: who is writing and what they may do now, which dialog they are in, and which command answers them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import commands
from handlers.activity import ActivityFlow
from handlers.briefings import BriefingFlow, BriefingsFlow
from handlers.case_intake import MailboxFlow, RequestFlow
from handlers.cases import CasesFlow, MyCasesFlow
from handlers.commands import Parsed, StartFlow
from handlers.commitments import CommitmentsFlow
from handlers.dialogs import COMMAND_BUTTON, OFFER, Context, Engine
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import without_control_characters
from handlers.language import LanguageFlow, language_from_hint
from handlers.notice_channel import NoticeChannelFlow
from handlers.opinions import OpinionFlow, OpinionsFlow
from handlers.programme_events import EventAddFlow, EventsFlow
from handlers.proposals import ProposalFlow, ProposalsFlow
from handlers.reception import NoteFlow, ReceptionFlow
from handlers.reception_office import RotaDayFlow, RotaFlow
from handlers.visit import VisitFlow
from storage import policy
from storage.db import Database
from storage.delivery import dialog_state
from storage.delivery.dialog_state import Dialog
from storage.errors import LianxinError, redacted_traceback
from storage.models import utcnow
from storage.policy import Role
from storage.records import people
from storage.settings import Settings

log = logging.getLogger(__name__)
SWITCH = "_switch"  # draft entry: a command that would leave the dialog, waiting for the person to confirm


def typed_command(inbound: Inbound, data: str) -> Inbound:
    """A command button's press (or its number typed) as the command typed."""
    return replace(inbound, kind="text", text=data.removeprefix(COMMAND_BUTTON), data="")


@dataclass(frozen=True)
class Answer:
    replies: list[Reply]
    before: tuple[Role, str]  # (role as the policy sees it, language) when the event arrived
    after: tuple[Role, str]  # and once it is handled


class Router:
    """Turns one inbound event into replies, inside one transaction: all of its changes commit, or none."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.engine = Engine(
            [
                *(VisitFlow(), LanguageFlow(), MailboxFlow(), RequestFlow(), CasesFlow(), MyCasesFlow()),
                *(ReceptionFlow(), NoteFlow(), RotaFlow(), RotaDayFlow()),
                *(ProposalFlow(), ProposalsFlow()),
                *(BriefingFlow(), BriefingsFlow(), OpinionFlow(), OpinionsFlow()),
                *(ActivityFlow(), EventsFlow(), EventAddFlow(), CommitmentsFlow()),
                NoticeChannelFlow(),
            ],
            commands.engine_words(),
        )

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
        in a few statements instead of a few per event."""
        for channel in {inbound.channel for inbound in inbounds}:
            users = [inbound.user_id for inbound in inbounds if inbound.channel == channel]
            await people.preload_identities(session, channel=channel, external_ids=users)
        keys = [(inbound.channel, inbound.chat_id, inbound.user_id) for inbound in inbounds]
        await dialog_state.preload(session, keys=keys)

    async def expects(
        self, session: AsyncSession, *, channel: str, chat_id: str, user_id: str, kind: InputKind
    ) -> bool:
        """Whether the person's dialog is at a step that takes this kind of input: a photo nobody asked for is not
        even fetched (it would be stored for nothing)."""
        state = await dialog_state.peek(session, channel=channel, chat_id=chat_id, user_id=user_id)
        return state is not None and self.engine.accepts(state, kind)

    def hinted_language(self, inbound: Inbound) -> str:
        return language_from_hint(inbound.language) or self.settings.general.default_language

    async def respond(self, session: AsyncSession, inbound: Inbound) -> list[Reply]:
        """The replies to one event, inside the caller's transaction. An expected problem (bad input, not
        allowed) undoes this event's changes and becomes its reply; anything unexpected propagates."""
        return (await self.answer(session, inbound)).replies

    async def answer(self, session: AsyncSession, inbound: Inbound) -> Answer:
        """`respond`, and who the person is before and after (an invitation makes a representative, /lang
        changes the language), for channels that keep a menu per role and language."""
        if inbound.text:  # a NUL saves on SQLite and fails every save on PostgreSQL; no control character helps
            inbound = replace(inbound, text=without_control_characters(inbound.text))
        identity = await people.identity_for(session, channel=inbound.channel, external_id=inbound.user_id)
        if identity.blocked_at is not None:  # writing again means they unblocked the bot
            identity.blocked_at = None
            session.add(identity)
        await people.note_channel_used(session, identity=identity)  # their notices follow them here (unless chosen)
        standing = await people.standing_of(session, identity=identity)
        language = identity.language or self.hinted_language(inbound)
        before = (standing.role, language)
        now = self.clock()
        ctx = Context(
            session=session,
            settings=self.settings,
            identity=identity,
            standing=standing,
            language=language,
            now=now,
            today=now.astimezone(self.settings.zone).date(),
        )
        try:
            async with session.begin_nested():
                replies = await self._handle(ctx, inbound)
        except LianxinError as problem:  # the savepoint is rolled back: the person is who they were
            return Answer([Reply(t(language, problem.key, **problem.params))], before, before)
        return Answer(replies, before, (ctx.standing.role, identity.language or language))

    async def _handle(self, ctx: Context, inbound: Inbound) -> list[Reply]:
        notes: list[Reply] = []
        if inbound.kind == "button" and inbound.data.startswith(COMMAND_BUTTON):
            # A notice's button (open this case, rate the answer): pressing it is typing its command, whatever
            # dialog is open, and the policy decides as for anything typed.
            inbound = typed_command(inbound, inbound.data)
        state = await dialog_state.load(
            ctx.session, channel=inbound.channel, chat_id=inbound.chat_id, user_id=inbound.user_id
        )
        timeout = timedelta(minutes=self.settings.general.dialog_timeout_minutes)
        if state is not None and state.flow == OFFER:
            # Buttons that type a command (report a request after a visit): the input picks one, or it is read
            # as if nothing had been offered; a lapsed offer picks nothing and is dropped unsaid.
            await dialog_state.discard(ctx.session, state=state)
            picked = self.engine.picked(state, inbound) if ctx.now - state.updated_at <= timeout else None
            if picked is not None:
                inbound = typed_command(inbound, picked)
            state = None
        if state is not None and ctx.now - state.updated_at > timeout:
            await dialog_state.discard(ctx.session, state=state)
            minutes = self.settings.general.dialog_timeout_minutes
            notes.append(Reply(ctx.t("dialog.expired", flow=ctx.t(f"flow.{state.flow}"), minutes=minutes)))
            state = None
            if inbound.kind == "button":  # the button belonged to the discarded dialog
                return notes
        if state is not None:
            return await self._in_dialog(ctx, state, inbound)
        if inbound.kind == "button":  # a button of a dialog that has ended (saved, cancelled, or timed out)
            return [*notes, Reply(ctx.t("dialog.ended")), Reply(commands.help_text(ctx, short=True))]
        if inbound.kind != "text":
            return [*notes, Reply(ctx.t("router.not_in_dialog", kind=ctx.t(f"kind.{inbound.kind}")))]
        parsed = commands.parse(inbound.text)
        if parsed is None:
            if people.looks_like_invitation(inbound.text):
                return notes + await commands.redeem(ctx, inbound.text)
            return [*notes, Reply(commands.help_text(ctx, short=True))]
        return notes + await self._run(ctx, inbound, parsed)

    async def _run(self, ctx: Context, inbound: Inbound, parsed: Parsed) -> list[Reply]:
        command = parsed.command
        if command is None:
            return [
                Reply(ctx.t("router.unknown_command", command=("/" + parsed.name)[:32])),
                Reply(commands.help_text(ctx, short=True)),
            ]
        policy.require(ctx.standing, command.action)
        key = (inbound.channel, inbound.chat_id, inbound.user_id)
        if command.flow is not None:
            return await self.engine.start(ctx, key, command.flow, parsed.arguments)
        assert command.answer is not None
        answered = await command.answer(ctx, parsed.arguments)
        if isinstance(answered, StartFlow):
            return await self.engine.start(ctx, key, answered.flow, answered.arguments)
        return answered

    async def _in_dialog(self, ctx: Context, state: Dialog, inbound: Inbound) -> list[Reply]:
        """Input while a dialog is open. Cancel, help, back and the choices shown are the dialog's; another
        command that would open a dialog asks first whether to leave this one; one that only answers is answered
        and the dialog goes on; a command word typed where the step takes text may be the answer itself."""
        if SWITCH in state.draft:
            return await self._switch_answer(ctx, state, inbound)
        text = inbound.text if inbound.kind == "text" else ""
        parsed = commands.parse(text) if text else None
        if (
            parsed is None
            or self.engine.is_word(text)
            or self.engine.chosen(state, text) is not None
            or (parsed.command is None)  # an unknown slash command: the engine says what it can do
        ):
            return await self.engine.handle(ctx, state, inbound)
        command = parsed.command
        takes_text = self.engine.accepts(state, "text")
        if command.name in commands.ENGINE_COMMANDS and (parsed.slash or not takes_text):
            # "/cancel@bot", "/back please": the dialog's own cancel and back, whatever follows them ("取消 这户"
            # typed where a note is asked is the note).
            return await self.engine.handle(ctx, state, replace(inbound, text=f"/{command.name}"))
        if not parsed.slash and takes_text and not command.opens_dialog:
            return await self.engine.handle(ctx, state, inbound)  # "进度 很慢" is a note, not /progress
        if not policy.may(ctx.standing, command.action):
            if not parsed.slash and takes_text:
                return await self.engine.handle(ctx, state, inbound)
            refused = policy.refusal(ctx.standing, command.action)
            return [Reply(ctx.t(refused.key, **refused.params)), *await self.engine.show(ctx, state)]
        if command.opens_dialog:
            return await self._offer_switch(ctx, state, text, as_answer=takes_text and not parsed.slash)
        try:
            async with ctx.session.begin_nested():
                answered = await self._run(ctx, inbound, parsed)
        except LianxinError as problem:  # "/progress X999": said, and the dialog goes on
            answered = [Reply(ctx.t(problem.key, **problem.params))]
        return answered + await self.engine.show(ctx, state)

    async def _offer_switch(self, ctx: Context, state: Dialog, text: str, *, as_answer: bool) -> list[Reply]:
        buttons = [
            Button("switch:go", ctx.t("dialog.switch.go")),
            Button("switch:stay", ctx.t("dialog.switch.stay", flow=ctx.t(f"flow.{state.flow}"))),
        ]
        if as_answer:
            buttons.append(Button("switch:answer", ctx.t("dialog.switch.answer")))
        return await self._ask_switch(ctx, state, text, tuple(buttons))

    async def _ask_switch(self, ctx: Context, state: Dialog, text: str, buttons: tuple[Button, ...]) -> list[Reply]:
        """Ask whether to leave the dialog for the command `text`, which waits in the draft for the answer."""
        state.draft = {**state.draft, SWITCH: text}
        question = ctx.t("dialog.switch.ask", flow=ctx.t(f"flow.{state.flow}"), text=text[:40])
        return await self.engine.ask(ctx, state, question, buttons)

    async def _switch_answer(self, ctx: Context, state: Dialog, inbound: Inbound) -> list[Reply]:
        """The answer to "leave this dialog for that command?"."""
        text = str(state.draft[SWITCH])
        state.draft = {key: value for key, value in state.draft.items() if key != SWITCH}
        if inbound.kind == "text" and self.engine.is_word(inbound.text):
            return await self.engine.handle(ctx, state, inbound)
        choice = self.engine.picked(state, inbound)
        if choice == "switch:go":
            parsed = commands.parse(text)
            assert parsed is not None
            try:
                async with ctx.session.begin_nested():
                    await dialog_state.discard(ctx.session, state=state)
                    answered = await self._run(ctx, replace(inbound, kind="text", text=text, data=""), parsed)
            except LianxinError as problem:  # the command could not start (/mycases with no case): stay
                return [Reply(ctx.t(problem.key, **problem.params)), *await self.engine.show(ctx, state)]
            return [Reply(ctx.t("dialog.left", flow=ctx.t(f"flow.{state.flow}"))), *answered]
        if choice == "switch:stay":
            return await self.engine.show(ctx, state)
        if choice == "switch:answer":
            await dialog_state.save(ctx.session, state=state)
            return await self.engine.handle(ctx, state, replace(inbound, kind="text", text=text, data=""))
        buttons = tuple(Button(data, label) for data, label, *_ in state.choices)  # still waiting: ask again
        return [Reply(ctx.t("dialog.switch.choose")), *await self._ask_switch(ctx, state, text, buttons)]
