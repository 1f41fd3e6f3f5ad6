"""The command table: every command declared once, and what is made from it: parsing, /help, the menus.

A command has a name (typed as /name), the words that work without a slash, the action the policy must allow, what
it starts (a flow) or answers, its help line and its menu entry (catalogs: command.<name>.help, .menu). The router
dispatches from this table; every channel's menus and /help are generated from it per role and language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.dialogs import Context, Words
from handlers.digest import answer_behind, answer_digest, answer_overdue
from handlers.events import Reply
from handlers.i18n import t
from handlers.programme_events import flow_for as event_flow_for
from handlers.progress import answer_progress
from handlers.reception import flow_for
from storage import policy
from storage.policy import Action, Role
from storage.records import mailbox, people


@dataclass(frozen=True)
class StartFlow:
    """What a command answers when its answer is a dialog: start this flow with these arguments."""

    flow: str
    arguments: str


Answer = Callable[[Context, str], Awaitable[list[Reply] | StartFlow]]


@dataclass(frozen=True)
class Command:
    name: str
    action: Action  # what the policy must allow for the command to be used at all
    words: tuple[str, ...] = ()  # Chinese words that work like the command, without a slash
    english: tuple[str, ...] = ()  # English ones
    flow: str | None = None  # the flow it starts ...
    answer: Answer | None = None  # ... or how it answers
    menu: Action | None = None  # shown in the menus of those the policy allows this (BIND: residents); None: none
    answer_may_open: bool = False  # its answer may be a dialog (/start with a contact card's link)

    @property
    def opens_dialog(self) -> bool:
        """Whether using it may open a dialog (and so leave the one the person is in)."""
        return self.flow is not None or self.answer_may_open


@dataclass(frozen=True)
class Parsed:
    """A text read as a command: `command` is None for a slash command nobody declared."""

    command: Command | None
    name: str
    arguments: str
    slash: bool


async def answer_start(ctx: Context, arguments: str) -> list[Reply] | StartFlow:
    """`/start`: a greeting; `/start m_<token>`: a contact card's mailbox; `/start CODE`: an invitation."""
    if arguments.startswith(mailbox.START_PREFIX):
        return StartFlow("mailbox", arguments)
    if arguments:
        return await redeem(ctx, arguments)
    return [Reply(ctx.t(f"start.{role_key(ctx)}")), Reply(help_text(ctx))]


async def redeem(ctx: Context, code: str) -> list[Reply]:
    """Bind this chat with an invitation code; who they are changes at once."""
    policy.require(ctx.standing, Action.REDEEM_INVITATION)
    person = await people.redeem_invitation(ctx.session, identity=ctx.identity, code=code, now=ctx.now)
    ctx.standing = await people.standing_of(ctx.session, identity=ctx.identity)
    key = "invite.welcome" if person.role is Role.REPRESENTATIVE else "invite.welcome_staff"
    return [Reply(ctx.t(key, name=person.name)), Reply(help_text(ctx))]


async def answer_reception(ctx: Context, arguments: str) -> StartFlow:
    """`/reception`: the reception days one may see; with arguments, the liaison office's rota or a note taken at a
    reception (handlers.reception.flow_for)."""
    return StartFlow(flow_for(arguments), arguments)


async def answer_events(ctx: Context, arguments: str) -> StartFlow:
    """`/events`: the events one may see, one of them, an answer to one; `/events add`: the liaison office schedules
    one (handlers.programme_events.flow_for)."""
    return StartFlow(event_flow_for(arguments), arguments)


async def answer_help(ctx: Context, arguments: str) -> list[Reply]:
    return [Reply(help_text(ctx))]


async def answer_cancel(ctx: Context, arguments: str) -> list[Reply]:
    return [Reply(ctx.t("dialog.nothing_to_cancel"))]


async def answer_back(ctx: Context, arguments: str) -> list[Reply]:
    return [Reply(ctx.t("dialog.nothing_to_go_back"))]


# In the order menus and /help list them.
COMMANDS: tuple[Command, ...] = (
    Command("visit", Action.LOG_VISIT, ("走访",), ("visit",), flow="visit", menu=Action.LOG_VISIT),
    Command("request", Action.REPORT_CASE, ("诉求", "反映诉求"), ("request",), flow="request", menu=Action.REPORT_CASE),
    Command("cases", Action.CASE_QUEUE, ("办件", "案件"), ("cases",), flow="cases", menu=Action.CASE_QUEUE),
    Command("mailbox", Action.WRITE_MAILBOX, ("写信", "信箱"), ("mailbox", "write"), flow="mailbox", menu=Action.BIND),
    Command("mycases", Action.MY_CASES, ("我的诉求", "我的来信"), ("mycases",), flow="mycases", menu=Action.BIND),
    Command(
        "progress", Action.READ_PROGRESS, ("进度",), ("progress",), answer=answer_progress, menu=Action.READ_PROGRESS
    ),
    Command("digest", Action.READ_DIGEST, ("周报",), ("digest",), answer=answer_digest, menu=Action.READ_DIGEST),
    Command("overdue", Action.READ_DIGEST, ("逾期",), ("overdue",), answer=answer_overdue, menu=Action.READ_DIGEST),
    Command("behind", Action.READ_DIGEST, ("落后",), ("behind",), answer=answer_behind, menu=Action.READ_DIGEST),
    Command(
        "reception",
        Action.READ_RECEPTION,
        ("接待日",),
        ("reception",),
        answer=answer_reception,
        menu=Action.READ_RECEPTION,
        answer_may_open=True,
    ),
    # proposals, motions, inquiries (handlers/proposals.py)
    Command(
        "proposal",
        Action.FILE_PROPOSAL,
        ("提案", "提议", "质询", "写提案"),
        ("proposal",),
        flow="proposal",
        menu=Action.FILE_PROPOSAL,
    ),
    Command(
        "proposals",
        Action.PROPOSAL_LIST,
        ("我的提案", "提案列表", "议案"),
        ("proposals",),
        flow="proposals",
        menu=Action.PROPOSAL_LIST,
    ),
    # briefings and opinion requests (handlers/briefings.py, handlers/opinions.py)
    Command("briefing", Action.SEND_BRIEFING, ("发通报",), ("briefing",), flow="briefing", menu=Action.SEND_BRIEFING),
    Command(
        "briefings",
        Action.BRIEFING_LIST,
        ("通报", "通报列表", "我的通报"),  # what a representative reads; a sender sees what they sent
        ("briefings",),
        flow="briefings",
        menu=Action.BRIEFING_LIST,
    ),
    Command("opinion", Action.SEND_BRIEFING, ("征求意见",), ("opinion",), flow="opinion", menu=Action.SEND_BRIEFING),
    Command(
        "opinions",
        Action.READ_BRIEFING,
        ("答复意见", "我的征求意见"),
        ("opinions",),
        flow="opinions",
        menu=Action.READ_BRIEFING,
    ),
    # activities, events, commitments (handlers/activity.py, handlers/programme_events.py, handlers/commitments.py)
    Command(
        "activity",
        Action.LOG_ACTIVITY,
        ("活动", "五个一", "记活动"),
        ("activity",),
        flow="activity",
        menu=Action.LOG_ACTIVITY,
    ),
    Command(
        "events",
        Action.EVENTS,
        ("活动安排", "会议", "培训"),
        ("events",),
        answer=answer_events,
        menu=Action.EVENTS,
        answer_may_open=True,
    ),
    Command(
        "commitments",
        Action.READ_COMMITMENTS,
        ("承诺", "我的承诺"),
        ("commitments",),
        flow="commitment",
        menu=Action.COMMITMENTS,
    ),
    # where one's notices go when one has bound several chats (handlers/notice_channel.py); a setting rarely
    # changed: in /help, not in the menus
    Command("channel", Action.CHOOSE_CHANNEL, ("通知渠道", "接收渠道"), ("channel",), flow="notices_channel"),
    Command("start", Action.START, ("开始",), ("start",), answer=answer_start, menu=Action.BIND, answer_may_open=True),
    Command("help", Action.HELP, ("帮助", "?", "？"), ("help",), answer=answer_help, menu=Action.HELP),
    Command("lang", Action.LANGUAGE, ("语言",), ("language",), flow="language", menu=Action.LANGUAGE),
    Command("cancel", Action.CANCEL, ("取消", "退出"), ("cancel",), answer=answer_cancel, menu=Action.CANCEL),
    Command("back", Action.CANCEL, ("返回", "上一步"), ("back",), answer=answer_back),
)
BY_NAME = {command.name: command for command in COMMANDS}
ENGINE_COMMANDS = frozenset({"cancel", "help", "back"})  # answered by the dialog engine while a dialog is open
BY_WORD = {word.lower(): command for command in COMMANDS for word in (*command.words, *command.english)}


def parse(text: str) -> Parsed | None:
    """`/visit@bot 幸福路` and `走访 幸福路` both mean visit with arguments `幸福路`; None when it is no command."""
    stripped = text.strip()
    if not stripped:
        return None
    head, _, rest = stripped.partition(" ")
    if head.startswith("/"):
        name = head[1:].split("@", 1)[0].lower()
        return Parsed(BY_NAME.get(name), name, rest.strip(), slash=True)
    command = BY_WORD.get(head.lower())
    return None if command is None else Parsed(command, command.name, rest.strip(), slash=False)


def engine_words() -> Words:
    """What the dialog engine answers itself at every step: cancel, help and back, with or without a slash."""

    def spelled(name: str) -> frozenset[str]:
        command = BY_NAME[name]
        return frozenset({f"/{name}", *(word.lower() for word in (*command.words, *command.english))})

    return Words(cancel=spelled("cancel"), help=spelled("help"), back=spelled("back"))  # ENGINE_COMMANDS


def role_key(ctx: Context) -> str:
    """Which role's texts a person reads: a representative no longer in office reads their own."""
    return "lapsed" if ctx.standing.lapsed else ctx.standing.role.value


def usable(standing: policy.Standing) -> list[Command]:
    return [command for command in COMMANDS if policy.may(standing, command.action)]


def help_line(command: Command, language: str) -> str:
    words = command.words if language == "zh-CN" else tuple(w for w in command.english if w != command.name)
    shown = t(language, "help.words", words=t(language, "list.separator").join(words)) if words else ""
    return t(
        language, "help.line", command=f"/{command.name}", words=shown, text=t(language, f"command.{command.name}.help")
    )


def help_text(ctx: Context, *, short: bool = False) -> str:
    """/help for this person: what their role is for, then a line for every command they may use; the short one
    is their role's hint (tests/handlers/test_commands.py checks it names only commands they may use)."""
    role = role_key(ctx)
    if short:
        return ctx.t(f"help.{role}.hint")
    lines = [ctx.t(f"help.{role}.intro")]
    lines += [help_line(command, ctx.language) for command in usable(ctx.standing)]
    lines.append(ctx.t("help.footer"))
    return "\n".join(lines)


def menu(role: Role, language: str) -> list[tuple[str, str]]:
    """A role's command menu in a language: (command, description), in the table's order."""
    standing = policy.typical(role)
    return [
        (command.name, t(language, f"command.{command.name}.menu"))
        for command in COMMANDS
        if command.menu is not None and policy.may(standing, command.menu)
    ]
