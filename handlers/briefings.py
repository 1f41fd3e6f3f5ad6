"""Briefings (党内情况通报): /briefing for the liaison office and leaders (scope, title, text, an optional document,
confirmation with how many it reaches), and /briefings for everyone concerned: a representative's briefings and
opinion requests (unread and unanswered first; a briefing opened shows its read button), a sender's with read shares
(a briefing opened shows who has not read it, with a button to remind them). The notices of both areas are worded
here (`notice`), for storage.records.briefings and opinions and for the scheduler's jobs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from handlers.audience import ScopeStep, scope_label
from handlers.dialogs import COMMAND_BUTTON, ConfirmStep, Context, Flow, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import text_answer, utf16_length
from storage.errors import Conflict, InvalidInput
from storage.models import Briefing, OpinionRequest
from storage.policy import Action
from storage.records import audience, briefings, opinions
from storage.records.briefings import Attachment
from storage.settings import Settings

NAMES_SHOWN = 60  # names a not-read list shows before "and n more"
LABEL = 24  # characters of a title on a button
EXCERPT = 1000  # of a briefing's or a request's text, what its notice quotes (UTF-16 code units)
PIECE = 3500  # the longest message the scheduler sends at once: within Telegram's 4096, as bot/telegram.py cuts
READ_WORDS = frozenset({"read", "已阅"})
REMIND_WORDS = frozenset({"remind", "提醒"})


def open_button(language: str, arguments: str, key: str) -> Button:
    """A button that types a command of this area (`/briefings 12 read`, `/opinions 3`)."""
    return Button(f"{COMMAND_BUTTON}/{arguments}", t(language, key))


def notice(language: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """A notice of briefings and opinion requests (storage names its key and values) in the recipient's language,
    with the button that acts on it: read, answer, remind those who have not read. Notices are not cut into
    messages as answers are (bot/channel.py cuts those), so a long text is quoted in part, the whole a button away:
    opening the briefing, or answering the request, shows it all."""
    shown = dict(values)
    number = values.get("id")
    cut = "body" in shown and utf16_length(str(shown["body"])) > EXCERPT
    if cut:
        more = "opinion.cut" if key.startswith("opinion.") else "briefing.cut"
        shown["body"] = str(shown["body"])[:EXCERPT].rstrip() + t(language, more)
    buttons: tuple[Button, ...] = ()
    if key in ("briefing.notify.new", "briefing.notify.reminder"):
        buttons = (open_button(language, f"briefings {number} read", "briefing.button.read"),)
        if cut:
            buttons += (open_button(language, f"briefings {number}", "briefing.button.whole"),)
    elif key in ("opinion.notify.new", "opinion.notify.reminder"):
        buttons = (open_button(language, f"opinions {number}", "opinion.button.answer"),)
    elif key == "briefing.notify.unread":
        buttons = (open_button(language, f"briefings {number} remind", "briefing.button.remind"),)
    return Reply(t(language, key, **shown), buttons).to_payload()


def pieces(text: str, limit: int = PIECE) -> list[str]:
    """A long text the scheduler sends (an opinion request's summary) cut at line breaks, or hard within one
    enormous line, into messages of at most `limit` UTF-16 code units, as bot/channel.py cuts answers."""
    found: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while utf16_length(line) > limit:
            if current:
                found.append(current)
                current = ""
            cut = used = 0
            while used + utf16_length(line[cut]) <= limit:
                used += utf16_length(line[cut])
                cut += 1
            found.append(line[:cut])
            line = line[cut:]
        if utf16_length(current + line) > limit:
            found.append(current)
            current = ""
        current += line
    if current or not found:
        found.append(current)
    return [piece.rstrip("\n") or "…" for piece in found]


def short(text: str) -> str:
    """A title as a button's label."""
    return text if len(text) <= LABEL else text[: LABEL - 1] + "…"


def local_day(ctx: Context, moment: datetime) -> str:
    return moment.astimezone(ctx.settings.zone).date().isoformat()


# --- steps shared with /opinion -------------------------------------------------------------------------


class TitleStep(Step):
    """The title, short: lists, reminders and summaries show it."""

    key = "title"

    def __init__(self, flow: str) -> None:
        self.flow = flow

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t(f"{self.flow}.ask.title", limit=briefings.MAX_TITLE))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["title"] = text_answer(inbound.text, limit=briefings.MAX_TITLE)
        return Outcome.NEXT


class BodyStep(Step):
    """The text: the briefing, or the draft decision opinions are asked on."""

    key = "body"

    def __init__(self, flow: str) -> None:
        self.flow = flow

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.briefings.max_body_length}

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t(f"{self.flow}.ask.body", limit=ctx.settings.briefings.max_body_length))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["body"] = text_answer(inbound.text, limit=ctx.settings.briefings.max_body_length)
        return Outcome.NEXT


class FileStep(Step):
    """An optional document or photo, or the button that goes on without one."""

    key = "file"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"photo", "document"})

    def __init__(self, flow: str) -> None:
        self.flow = flow

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t(f"{self.flow}.ask.file"), (Button(f"{self.flow}:file:none", ctx.t("briefing.button.no_file")),)
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            if inbound.data != f"{self.flow}:file:none":
                raise InvalidInput("dialog.stale_button")
            ctx.draft["file"] = []
            return Outcome.NEXT
        reference = inbound.photo if inbound.kind == "photo" else inbound.document
        ctx.draft["file"] = [reference, Path(reference.removeprefix("file:")).name]
        return Outcome.NEXT


def attachment(draft: dict[str, Any]) -> Attachment | None:
    file = draft.get("file") or []
    return briefings.attachment_of(file[0], file[1]) if file else None


class SendConfirmStep(ConfirmStep):
    """The confirmation, with the scope in words and how many representatives it reaches read before it is shown."""

    async def prompt(self, ctx: Context) -> Prompt:
        scope = await audience.resolve(ctx.session, str(ctx.draft["scope"]))
        ctx.draft["_scope"] = scope_label(ctx, scope)
        ctx.draft["_count"] = await briefings.count_in_scope(ctx.session, scope.key)
        return await super().prompt(ctx)


def common_summary(ctx: Context) -> list[str]:
    draft = ctx.draft
    file = draft.get("file") or []
    return [
        ctx.t("briefing.summary.scope", scope=draft.get("_scope", "—"), count=draft.get("_count", 0)),
        ctx.t("briefing.summary.title", title=draft["title"]),
        ctx.t("briefing.summary.body", body=draft["body"]),
        ctx.t("briefing.summary.file", name=file[1] if file else ctx.t("briefing.no_file")),
    ]


# --- /briefing: send one ---------------------------------------------------------------------------------


SCOPE, TITLE, BODY, FILE = ScopeStep("briefing"), TitleStep("briefing"), BodyStep("briefing"), FileStep("briefing")


class BriefingFlow(Flow):
    """/briefing: a briefing to everyone, a level or a group."""

    name = "briefing"
    action = Action.SEND_BRIEFING
    steps = (
        SCOPE,
        TITLE,
        BODY,
        FILE,
        SendConfirmStep(
            "briefing", summary=lambda ctx: "\n".join(common_summary(ctx)), editable=(SCOPE, TITLE, BODY, FILE)
        ),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        return None

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        briefing = await briefings.send(
            ctx.session,
            standing=ctx.standing,
            scope=str(draft["scope"]),
            title=str(draft["title"]),
            body=str(draft["body"]),
            attachment=attachment(draft),
            settings=ctx.settings,
            now=ctx.now,
            render=notice,
        )
        _, recipients = await briefings.share(ctx.session, briefing_id=briefing.id or 0)
        text = ctx.t(
            "briefing.done.sent",
            id=briefing.id,
            count=recipients,
            days=ctx.settings.briefings.not_read_days,
        )
        return [Reply(text, (open_button(ctx.language, f"briefings {briefing.id}", "briefing.button.open"),))]


# --- /briefings: what was sent to one, or what one sent ----------------------------------------------------


def as_sender(ctx: Context) -> bool:
    return ctx.standing.staff_id is not None


async def received_lines(ctx: Context) -> tuple[list[str], list[Button]]:
    """A representative's list: what waits for them (open requests not answered, briefings not read) first, then
    the rest; requests by deadline, briefings newest first."""
    rep = ctx.representative_id
    waiting: list[tuple[str, Button]] = []
    done: list[tuple[str, Button]] = []
    for one in await opinions.received(ctx.session, representative_id=rep, now=ctx.now):
        request = one.request
        closed = request.closes_at <= ctx.now
        state = "closed" if closed else "answered" if one.answered_at else "open"
        closes = opinions.deadline_day(request, ctx.settings).isoformat()
        line = ctx.t(f"briefing.line.opinion_{state}", id=request.id, title=request.title, closes=closes)
        button = Button(f"briefings:pick:o:{request.id}", "📝 " + short(request.title))
        (waiting if state == "open" else done).append((line, button))
    for got in await briefings.received(ctx.session, representative_id=rep):
        briefing = got.briefing
        key = "briefing.line.read" if got.read_at else "briefing.line.unread"
        line = ctx.t(key, id=briefing.id, title=briefing.title, sent=local_day(ctx, briefing.sent_at))
        button = Button(f"briefings:pick:b:{briefing.id}", "📢 " + short(briefing.title))
        (done if got.read_at else waiting).append((line, button))
    shown = waiting + done
    return [line for line, _ in shown], [button for _, button in shown]


async def sent_lines(ctx: Context) -> tuple[list[str], list[Button]]:
    assert ctx.standing.staff_id is not None
    lines, buttons = [], []
    for sent in await briefings.sent_by(ctx.session, staff_id=ctx.standing.staff_id):
        briefing = sent.briefing
        lines.append(
            ctx.t(
                "briefing.line.sent",
                id=briefing.id,
                title=briefing.title,
                sent=local_day(ctx, briefing.sent_at),
                read=sent.read,
                total=sent.recipients,
            )
        )
        buttons.append(Button(f"briefings:pick:b:{briefing.id}", "📢 " + short(briefing.title)))
    for asked in await opinions.sent_by(ctx.session, staff_id=ctx.standing.staff_id):
        request = asked.request
        lines.append(
            ctx.t(
                "briefing.line.asked",
                id=request.id,
                title=request.title,
                closes=opinions.deadline_day(request, ctx.settings).isoformat(),
                answered=asked.answered,
                total=asked.recipients,
            )
        )
        buttons.append(Button(f"briefings:pick:o:{request.id}", "📝 " + short(request.title)))
    return lines, buttons


async def listing(ctx: Context) -> tuple[list[str], list[Button]]:
    return await (sent_lines(ctx) if as_sender(ctx) else received_lines(ctx))


class PickStep(Step):
    """The list, a button for each; a briefing's number typed opens it."""

    key = "item"

    async def prompt(self, ctx: Context) -> Prompt:
        lines, buttons = await listing(ctx)
        header = ctx.t("briefing.ask.pick_sent" if as_sender(ctx) else "briefing.ask.pick")
        return Prompt("\n".join([header, *lines]), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            item = inbound.data.removeprefix("briefings:pick:")
            if item[:2] not in ("b:", "o:") or not item[2:].isdigit():
                raise InvalidInput("dialog.stale_button")
            ctx.draft["item"] = item
            return Outcome.NEXT
        typed = text_answer(inbound.text, limit=12)
        if not typed.isdigit():
            raise InvalidInput("briefing.error.pick")
        ctx.draft["item"] = f"b:{int(typed)}"
        return Outcome.NEXT


class BriefingsFlow(Flow):
    """/briefings [N [read|remind]]: the list, one opened, a read confirmed, a reminder sent."""

    name = "briefings"
    action = Action.BRIEFING_LIST
    steps = (PickStep(),)

    async def prefill(self, ctx: Context, arguments: str) -> None:
        words = arguments.split()
        if words and words[0].isdigit():
            ctx.draft["item"] = f"b:{int(words[0])}"
            if len(words) > 1 and words[1].lower() in READ_WORDS:
                ctx.draft["do"] = "read"
            elif len(words) > 1 and words[1].lower() in REMIND_WORDS:
                ctx.draft["do"] = "remind"
            return
        _, buttons = await listing(ctx)
        if not buttons:
            raise Conflict("briefing.none_sent" if as_sender(ctx) else "briefing.none_received")

    async def finish(self, ctx: Context) -> list[Reply]:
        kind, _, number = str(ctx.draft["item"]).partition(":")
        item_id = int(number)
        if kind == "o":
            if as_sender(ctx):
                request = await opinions.open_sent(ctx.session, standing=ctx.standing, request_id=item_id)
                return await summary_replies(ctx, request)
            return await received_request(ctx, item_id)
        if as_sender(ctx):
            if ctx.draft.get("do") == "remind":
                return await remind(ctx, item_id)
            briefing = await briefings.open_sent(ctx.session, standing=ctx.standing, briefing_id=item_id)
            return await readers(ctx, briefing)
        if ctx.draft.get("do") == "read":
            return await confirm(ctx, item_id)
        return await received_briefing(ctx, item_id)


def to_list(ctx: Context) -> Button:
    return open_button(ctx.language, "briefings", "briefing.button.list")


def briefing_lines(ctx: Context, briefing: Briefing, sender: str) -> list[str]:
    lines = [ctx.t("briefing.view.head", id=briefing.id, title=briefing.title, sent=local_day(ctx, briefing.sent_at))]
    lines += [ctx.t("briefing.view.sender", name=sender), briefing.body]
    if briefing.file_name:
        lines.append(ctx.t("briefing.view.file", name=briefing.file_name))
    return lines


async def received_briefing(ctx: Context, briefing_id: int) -> list[Reply]:
    briefing, mine = await briefings.open_received(ctx.session, standing=ctx.standing, briefing_id=briefing_id)
    lines = briefing_lines(ctx, briefing, await briefings.sender_name(ctx.session, briefing.sender_id))
    if mine.read_at is not None:
        lines.append(ctx.t("briefing.view.read_at", at=local_day(ctx, mine.read_at)))
        return [Reply("\n".join(lines), (to_list(ctx),))]
    read = open_button(ctx.language, f"briefings {briefing.id} read", "briefing.button.read")
    return [Reply("\n".join(lines), (read, to_list(ctx)))]


async def confirm(ctx: Context, briefing_id: int) -> list[Reply]:
    """Confirm reading; the briefing is shown again under the confirmation, because on a channel that edits the
    pressed message the reply takes the notice's place."""
    first = await briefings.confirm_read(ctx.session, standing=ctx.standing, briefing_id=briefing_id, now=ctx.now)
    briefing = await briefings.get(ctx.session, briefing_id)
    key = "briefing.done.read" if first else "briefing.done.read_before"
    lines = [ctx.t(key, id=briefing.id, title=briefing.title), ""]
    lines += briefing_lines(ctx, briefing, await briefings.sender_name(ctx.session, briefing.sender_id))
    return [Reply("\n".join(lines), (to_list(ctx),))]


def names_line(language: str, people: list[tuple[str, str]]) -> str:
    """Names and codes, as many as NAMES_SHOWN, then how many more."""
    listed = people[:NAMES_SHOWN]
    shown = t(language, "list.separator").join(t(language, "briefing.person", name=n, code=c) for n, c in listed)
    if len(people) > NAMES_SHOWN:
        shown += t(language, "briefing.view.more", count=len(people) - NAMES_SHOWN)
    return shown


async def readers(ctx: Context, briefing: Briefing) -> list[Reply]:
    """The sender's view: the read share and who has not read it, with the reminder's button."""
    assert briefing.id is not None
    read, total = await briefings.share(ctx.session, briefing_id=briefing.id)
    lines = [
        ctx.t("briefing.view.head", id=briefing.id, title=briefing.title, sent=local_day(ctx, briefing.sent_at)),
        ctx.t("briefing.view.share", read=read, total=total),
    ]
    unread = await briefings.not_read(ctx.session, briefing_id=briefing.id)
    if not unread:
        lines.append(ctx.t("briefing.view.all_read"))
        return [Reply("\n".join(lines), (to_list(ctx),))]
    lines.append(
        ctx.t(
            "briefing.view.unread",
            count=len(unread),
            names=names_line(ctx.language, [(r.name, r.code) for r in unread]),
        )
    )
    button = open_button(ctx.language, f"briefings {briefing.id} remind", "briefing.button.remind")
    return [Reply("\n".join(lines), (button, to_list(ctx)))]


async def remind(ctx: Context, briefing_id: int) -> list[Reply]:
    count = await briefings.remind(
        ctx.session, standing=ctx.standing, briefing_id=briefing_id, settings=ctx.settings, now=ctx.now, render=notice
    )
    briefing = await briefings.get(ctx.session, briefing_id)
    if count:
        return [Reply(ctx.t("briefing.done.reminded", count=count, title=briefing.title), (to_list(ctx),))]
    unread = await briefings.not_read(ctx.session, briefing_id=briefing_id)
    key = "briefing.done.reminded_today" if unread else "briefing.view.all_read"
    return [Reply(ctx.t(key, title=briefing.title), (to_list(ctx),))]


async def received_request(ctx: Context, request_id: int) -> list[Reply]:
    """An opinion request as a representative opens it from the list: what it asks, and the button to answer."""
    request, mine = await opinions.open_received(ctx.session, standing=ctx.standing, request_id=request_id)
    closes = opinions.deadline_day(request, ctx.settings).isoformat()
    lines = [ctx.t("opinion.view.head", id=request.id, title=request.title, closes=closes), request.body]
    if request.file_name:
        lines.append(ctx.t("briefing.view.file", name=request.file_name))
    if request.closes_at <= ctx.now:
        lines.append(ctx.t("opinion.view.closed"))
        return [Reply("\n".join(lines), (to_list(ctx),))]
    key = "opinion.button.change" if mine.answered_at else "opinion.button.answer"
    if mine.answered_at:
        lines.append(ctx.t("opinion.view.answered", at=local_day(ctx, mine.answered_at)))
    return [Reply("\n".join(lines), (open_button(ctx.language, f"opinions {request.id}", key), to_list(ctx)))]


def option_line(language: str, option: str, count: int, answered: int) -> str:
    share = round(100 * count / answered) if answered else 0
    return t(language, "opinion.summary.option", option=option, count=count, share=share)


def summary_text(language: str, settings: Settings, summary: opinions.Summary, *, final: bool) -> str:
    """The answers to a request as its sender reads them: counts and shares per option, the texts with who wrote
    them, who has not answered. A long one is cut into messages by the channel (bot/channel.py)."""
    request = summary.request
    closes = opinions.deadline_day(request, settings).isoformat()
    head = "opinion.summary.head_final" if final else "opinion.summary.head"
    lines = [
        t(language, head, id=request.id, title=request.title, closes=closes),
        t(language, "opinion.summary.answered", answered=summary.answered, total=summary.recipients),
    ]
    for question in summary.questions:
        lines.append("")
        lines.append(t(language, "opinion.summary.question", position=question.position, text=question.text))
        if question.options:
            lines += [
                option_line(language, option, count, question.answered)
                for option, count in zip(question.options, question.counts, strict=True)
            ]
        elif question.texts:
            lines += [
                t(language, "opinion.summary.text", name=name, code=code, text=text)
                for name, code, text in question.texts
            ]
        else:
            lines.append(t(language, "opinion.summary.no_texts"))
    lines.append("")
    if summary.silent:
        names = names_line(language, summary.silent)
        lines.append(t(language, "opinion.summary.silent", count=len(summary.silent), names=names))
    else:
        lines.append(t(language, "opinion.summary.everyone"))
    return "\n".join(lines)


async def summary_replies(ctx: Context, request: OpinionRequest) -> list[Reply]:
    summary = await opinions.summary(ctx.session, request=request)
    text = summary_text(ctx.language, ctx.settings, summary, final=request.closes_at <= ctx.now)
    return [Reply(text, (to_list(ctx),))]
