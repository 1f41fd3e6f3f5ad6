"""/commitments (承诺): a representative's public commitments for the year. The representative sees theirs, adds
one (`/commitments add`) and marks one planned, in progress or done with a note (`/commitments <id>`); anyone
reads a representative's by code (`/commitments D001`)."""

from __future__ import annotations

from typing import Any, ClassVar

from handlers.dialogs import COMMAND_BUTTON, Context, Flow, Outcome, Prompt, Step
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.inputs import text_answer
from storage import policy
from storage.errors import InvalidInput
from storage.models import Commitment, Representative
from storage.policy import Action
from storage.records import commitments
from storage.records.commitments import DONE, IN_PROGRESS, MAX_NOTE, MAX_TEXT, PLANNED, STATUSES

STATUS_MARKS = {PLANNED: "○", IN_PROGRESS: "◐", DONE: "●"}


def commitment_lines(ctx: Context, listed: list[Commitment]) -> list[str]:
    lines = []
    for number, commitment in enumerate(listed, start=1):
        lines.append(
            ctx.t(
                "commitment.line",
                number=number,
                mark=STATUS_MARKS.get(commitment.status, "○"),
                text=commitment.text,
                status=ctx.t(f"commitment.status.{commitment.status}"),
            )
        )
        if commitment.progress_note:
            lines.append(ctx.t("commitment.note_line", note=commitment.progress_note))
    return lines


async def own_view(ctx: Context) -> Reply:
    year = ctx.today.year
    listed = await commitments.of_year(ctx.session, representative_id=ctx.representative_id, year=year)
    limit = ctx.settings.activities.max_commitments
    lines = [ctx.t("commitment.view.own", year=year, count=len(listed), limit=limit)]
    lines += commitment_lines(ctx, listed) or [ctx.t("commitment.view.none_own")]
    buttons = [
        Button(f"{COMMAND_BUTTON}/commitments {commitment.id}", ctx.t("commitment.button.mark", number=number))
        for number, commitment in enumerate(listed, start=1)
    ]
    if len(listed) < limit:
        buttons.insert(0, Button(f"{COMMAND_BUTTON}/commitments add", ctx.t("commitment.button.add")))
    return Reply("\n".join(lines), tuple(buttons))


async def public_view(ctx: Context, rep: Representative) -> Reply:
    assert rep.id is not None
    year = ctx.today.year
    listed = await commitments.of_year(ctx.session, representative_id=rep.id, year=year)
    lines = [ctx.t("commitment.view.public", name=rep.name, code=rep.code, year=year)]
    lines += commitment_lines(ctx, listed) or [ctx.t("commitment.view.none_public")]
    return Reply("\n".join(lines))


class TextStep(Step):
    key = "text"

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "add"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": MAX_TEXT}

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("commitment.ask.text", limit=MAX_TEXT))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["text"] = text_answer(inbound.text, limit=MAX_TEXT)
        return Outcome.NEXT


class StatusStep(Step):
    key = "status"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "mark"

    async def prompt(self, ctx: Context) -> Prompt:
        commitment = await commitments.own(
            ctx.session, standing=ctx.standing, commitment_id=int(ctx.draft["commitment_id"])
        )
        buttons = tuple(
            Button(f"commitment:status:{status}", ctx.t(f"commitment.status.{status}")) for status in STATUSES
        )
        now = ctx.t(f"commitment.status.{commitment.status}")
        return Prompt(ctx.t("commitment.ask.status", text=commitment.text, status=now), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        status = inbound.data.removeprefix("commitment:status:")
        if status not in STATUSES:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["status"] = status
        return Outcome.NEXT


class NoteStep(Step):
    key = "note"

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("do") == "mark"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": MAX_NOTE}

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(
            ctx.t("commitment.ask.note", limit=MAX_NOTE), (Button("commitment:note:skip", ctx.t("button.skip")),)
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["note"] = "" if inbound.kind == "button" else text_answer(inbound.text, limit=MAX_NOTE)
        return Outcome.NEXT


class CommitmentsFlow(Flow):
    """/commitments: one's own (add, mark), or a representative's by code."""

    name = "commitment"
    action = Action.READ_COMMITMENTS
    steps = (TextStep(), StatusStep(), NoteStep())

    async def prefill(self, ctx: Context, arguments: str) -> None:
        word = arguments.strip().split()[0] if arguments.strip() else ""
        draft = ctx.draft
        if not word:
            if not ctx.standing.is_representative:
                raise InvalidInput("commitment.usage")
            draft["do"] = "own"
        elif word.lower() in ("add", "添加"):
            policy.require(ctx.standing, Action.COMMITMENTS)
            year, limit = ctx.today.year, ctx.settings.activities.max_commitments
            count = await commitments.count_of_year(ctx.session, representative_id=ctx.representative_id, year=year)
            if count >= limit:
                raise InvalidInput("commitment.error.too_many", limit=limit, year=year)
            draft["do"] = "add"
        elif word.isdigit() and word.isascii():
            policy.require(ctx.standing, Action.COMMITMENTS)
            await commitments.own(ctx.session, standing=ctx.standing, commitment_id=int(word))
            draft["do"], draft["commitment_id"] = "mark", int(word)
        else:
            rep = await commitments.representative_by_code(ctx.session, code=word)
            draft["do"], draft["representative_id"] = "read", rep.id

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        said = ""
        if draft["do"] == "read":
            rep = await ctx.session.get(Representative, int(draft["representative_id"]))
            assert rep is not None
            return [await public_view(ctx, rep)]
        if draft["do"] == "add":
            await commitments.add(
                ctx.session,
                standing=ctx.standing,
                text=draft["text"],
                year=ctx.today.year,
                settings=ctx.settings,
                now=ctx.now,
            )
            said = ctx.t("commitment.done.add")
        elif draft["do"] == "mark":
            commitment = await commitments.mark(
                ctx.session,
                standing=ctx.standing,
                commitment_id=int(draft["commitment_id"]),
                status=draft["status"],
                note=draft.get("note", ""),
                now=ctx.now,
            )
            said = ctx.t("commitment.done.mark", status=ctx.t(f"commitment.status.{commitment.status}"))
        shown = await own_view(ctx)
        return [Reply(f"{said}\n\n{shown.text}" if said else shown.text, shown.buttons)]
