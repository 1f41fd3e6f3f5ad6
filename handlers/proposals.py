"""Proposals, motions and inquiries in the chat: /proposal drafts one (kind, title, body, files, co-signers) and
/proposals follows them (a representative's own and co-signed, the liaison office's review queue, a department's
assignments, everything for leaders), with a proposal's steps as buttons, as /cases does for cases. The notices
storage.records.proposals queues are worded here (`render`)."""

from __future__ import annotations

from typing import Any, ClassVar

from handlers.dialogs import COMMAND_BUTTON, ConfirmStep, Context, Flow, Outcome, Prompt, Step, YesNoStep
from handlers.events import Button, Inbound, InputKind, Reply
from handlers.i18n import t
from handlers.inputs import text_answer
from storage.errors import Conflict, InvalidInput, LianxinError
from storage.models import Proposal, Representative
from storage.policy import Action
from storage.records import cases, proposals
from storage.records.cases import Actor
from storage.records.proposals import Shortfall
from storage.workdays import calendar_of

MAX_NOTE = 2000
HISTORY_SHOWN = 6
BODY_SHOWN = 500
# Notices whose button types `/proposals NUMBER STEP`: the step the reader is asked to take.
STEP_BUTTONS: dict[str, tuple[str, ...]] = {
    "proposal.notify.invited": ("cosign", "decline"),
    "proposal.notify.invite_reminder": ("cosign", "decline"),
    "proposal.notify.ready": ("submit",),
    "proposal.notify.answered_author": ("evaluate",),
}


def render(language: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
    """A proposal notice (storage.records.proposals names its key and values) in the recipient's language, with
    buttons that open the proposal or take the step the notice asks for."""
    shown = dict(values)
    if "kind_zh" in shown:
        shown["kind"] = shown["kind_en"] if language == "en" else shown["kind_zh"]
    if "evaluation" in shown:
        shown["evaluation"] = t(language, f"proposal.evaluation.{shown['evaluation']}")
    if "department" in shown and not shown["department"]:
        shown["department"] = t(language, "proposal.no_department")
    number = shown.get("number")
    buttons: tuple[Button, ...] = ()
    if number and key.startswith("proposal.notify."):
        steps = [
            Button(f"{COMMAND_BUTTON}/proposals {number} {step}", t(language, f"proposal.button.{step}"))
            for step in STEP_BUTTONS.get(key, ())
        ]
        buttons = (*steps, Button(f"{COMMAND_BUTTON}/proposals {number}", t(language, "proposal.button.open")))
    return Reply(t(language, key, **shown), buttons).to_payload()


def kind_label(ctx: Context, code: str) -> str:
    kind = ctx.settings.proposals.kind(code)
    return code if kind is None else kind.label(ctx.language)


def proposal_line(ctx: Context, proposal: Proposal) -> str:
    """One proposal in a list: number, kind, title, state, and the deadline of an assigned one (late or not)."""
    due = ""
    if proposal.state == proposals.ASSIGNED and proposal.due_on is not None:
        late = ctx.t("proposal.late") if proposal.due_on < ctx.today else ""
        due = ctx.t("proposal.due", due=proposal.due_on.isoformat(), late=late)
    return ctx.t(
        "proposal.line",
        number=proposal.number,
        kind=kind_label(ctx, proposal.kind),
        title=proposal.title,
        state=ctx.t(f"proposal.state.{proposal.state}"),
        due=due,
    )


def missing_text(ctx: Context, lacking: Shortfall) -> str:
    """Everything a proposal lacks before it may be submitted, in one list."""
    lines = []
    if lacking.cosigners:
        lines.append(ctx.t("proposal.missing.cosigners", count=lacking.cosigners))
    if lacking.body:
        lines.append(ctx.t("proposal.missing.body", min=lacking.body))
    if lacking.attachment:
        lines.append(ctx.t("proposal.missing.attachment"))
    return "\n".join(lines)


async def details(ctx: Context, proposal: Proposal) -> str:
    """The proposal as its readers see it: the text, the author and co-signers, where it stands, its history."""
    assert proposal.id is not None
    session = ctx.session
    author = await session.get(Representative, proposal.author_id)
    body = proposal.body if len(proposal.body) <= BODY_SHOWN else proposal.body[: BODY_SHOWN - 1] + "…"
    lines = [proposal_line(ctx, proposal), ctx.t("proposal.detail.body", body=body)]
    lines.append(ctx.t("proposal.detail.author", name=author.name if author else "—"))
    links = await proposals.signers(session, proposal_id=proposal.id)
    if links:
        signed = ctx.t("list.separator").join(
            ctx.t("proposal.detail.signer", name=rep.name, status=ctx.t(f"proposal.signer.{link.status}"))
            for link, rep in links
        )
        lines.append(ctx.t("proposal.detail.signers", signers=signed))
    files = await proposals.attachments(session, proposal_id=proposal.id)
    if files:
        lines.append(ctx.t("proposal.detail.files", count=len(files)))
    if proposal.reason:
        lines.append(ctx.t("proposal.detail.reason", reason=proposal.reason))
    if proposal.merged_into is not None:
        target = await session.get(Proposal, proposal.merged_into)
        lines.append(ctx.t("proposal.detail.merged", number=target.number if target else "—"))
    if proposal.department:
        lines.append(ctx.t("proposal.detail.department", department=proposal.department))
    if proposal.due_provisional:
        lines.append(ctx.t("proposal.detail.provisional"))
    if proposal.answer:
        lines.append(ctx.t("proposal.detail.answer", answer=proposal.answer))
    if proposal.evaluation:
        lines.append(
            ctx.t("proposal.detail.evaluation", evaluation=ctx.t(f"proposal.evaluation.{proposal.evaluation}"))
        )
    events = await proposals.history(session, proposal_id=proposal.id)
    for event in events[-HISTORY_SHOWN:]:
        local = event.at.astimezone(ctx.settings.zone)
        note = f"：{event.note[:80]}" if event.note else ""
        lines.append(
            ctx.t(
                "proposal.detail.event",
                at=local.strftime("%m-%d %H:%M"),
                action=ctx.t(f"proposal.event.{event.action}"),
                note=note,
            )
        )
    return "\n".join(lines)


# --- co-signers: found by name or code, picked with buttons -------------------------------------------------


class CosignersStep(Step):
    """Co-signers, several: a typed name or code finds representatives in office (of the author's level when the
    kind says so), a button adds one, another finishes."""

    key = "cosigners_done"
    resets = ("cosigners", "found")

    def applies(self, draft: dict[str, Any]) -> bool:
        return str(draft.get("step", "invite")) == "invite"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.proposals.max_cosigners}

    def level(self, ctx: Context) -> str | None:
        kind = ctx.settings.proposals.kind(str(ctx.draft.get("kind", "")))
        return str(ctx.draft["author_level"]) if kind is not None and kind.same_level else None

    async def prompt(self, ctx: Context) -> Prompt:
        chosen = ctx.draft.get("cosigners", [])
        found = ctx.draft.get("found", [])
        kind = ctx.settings.proposals.kind(str(ctx.draft.get("kind", "")))
        lines = []
        if chosen:
            names = ctx.t("list.separator").join(name for _, name, _ in chosen)
            lines.append(ctx.t("proposal.cosigners_chosen", count=len(chosen), names=names))
        if found:
            lines.append(ctx.t("proposal.ask.cosigner_pick"))
        elif chosen:
            lines.append(ctx.t("proposal.ask.cosigners_more"))
        elif kind is not None and kind.min_cosigners:
            lines.append(ctx.t("proposal.ask.cosigners_needed", count=kind.min_cosigners))
        else:
            lines.append(ctx.t("proposal.ask.cosigners"))
        buttons = [Button(f"proposal:signer:{rep_id}", f"{name}（{code}）") for rep_id, name, code in found]
        done = ctx.t("button.done") if chosen else ctx.t("button.skip")
        buttons.append(Button("proposal:signers:done", done))
        return Prompt("\n".join(lines), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        chosen = list(ctx.draft.get("cosigners", []))
        if inbound.data == "proposal:signers:done":
            if ctx.draft.get("step") == "invite" and not chosen:
                raise InvalidInput("proposal.error.nobody_chosen")
            ctx.draft["cosigners_done"] = True
            ctx.draft.pop("found", None)
            return Outcome.NEXT
        if inbound.kind == "button":
            rep_id = inbound.data.removeprefix("proposal:signer:")
            picked = next((entry for entry in ctx.draft.get("found", []) if str(entry[0]) == rep_id), None)
            if picked is None:
                raise InvalidInput("dialog.stale_button")
            if any(entry[0] == picked[0] for entry in chosen):
                raise InvalidInput("proposal.error.already_chosen", name=picked[1])
            if len(chosen) >= ctx.settings.proposals.max_cosigners:
                raise InvalidInput("proposal.error.too_many_cosigners", limit=ctx.settings.proposals.max_cosigners)
            ctx.draft["cosigners"] = [*chosen, picked]
            ctx.draft.pop("found", None)
            return Outcome.STAY
        typed = text_answer(inbound.text, limit=20)
        author = int(ctx.draft["author_id"])
        found = await proposals.find_cosigners(ctx.session, text=typed, author_id=author, level=self.level(ctx))
        if not found:
            own = await ctx.session.get(Representative, author)
            if own is not None and typed.upper() in (own.code.upper(), own.name):
                raise InvalidInput("proposal.error.own_cosigner")
            key = "proposal.error.no_cosigner_level" if self.level(ctx) else "proposal.error.no_cosigner"
            raise InvalidInput(key, text=typed)
        ctx.draft["found"] = [[rep.id, rep.name, rep.code] for rep in found]
        return Outcome.STAY


# --- /proposal: drafting ------------------------------------------------------------------------------------


class KindStep(Step):
    key = "kind"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        buttons = tuple(
            Button(f"proposal:kind:{kind.code}", kind.label(ctx.language)) for kind in ctx.settings.proposals.kinds
        )
        return Prompt(ctx.t("proposal.ask.kind"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        code = inbound.data.removeprefix("proposal:kind:")
        if ctx.settings.proposals.kind(code) is None:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["kind"] = code
        return Outcome.NEXT


class TitleStep(Step):
    key = "title"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.proposals.max_title_length}

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("proposal.ask.title", limit=ctx.settings.proposals.max_title_length))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["title"] = text_answer(inbound.text, limit=ctx.settings.proposals.max_title_length)
        return Outcome.NEXT


class BodyStep(Step):
    key = "body"

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.proposals.max_body_length}

    async def prompt(self, ctx: Context) -> Prompt:
        kind = proposals.kind_of(ctx.settings, str(ctx.draft["kind"]))
        return Prompt(
            ctx.t("proposal.ask.body", min=kind.min_body_length, limit=ctx.settings.proposals.max_body_length)
        )

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["body"] = text_answer(inbound.text, limit=ctx.settings.proposals.max_body_length)
        return Outcome.NEXT


class FilesStep(Step):
    """Photos and documents, optional (some kinds need one: said at saving)."""

    key = "files_done"
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"photo", "document"})
    resets = ("files",)

    def help_params(self, ctx: Context) -> dict[str, Any]:
        return {"limit": ctx.settings.proposals.max_attachments}

    async def prompt(self, ctx: Context) -> Prompt:
        count = len(ctx.draft.get("files", []))
        limit = ctx.settings.proposals.max_attachments
        text = (
            ctx.t("proposal.ask.more_files", count=count, limit=limit)
            if count
            else ctx.t("proposal.ask.files", limit=limit)
        )
        done = ctx.t("button.done") if count else ctx.t("button.skip")
        return Prompt(text, (Button("proposal:files:done", done),))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind == "button":
            ctx.draft["files_done"] = True
            return Outcome.NEXT
        files = list(ctx.draft.get("files", []))
        if len(files) >= ctx.settings.proposals.max_attachments:
            raise InvalidInput("proposal.error.too_many_files", limit=ctx.settings.proposals.max_attachments)
        reference = inbound.photo if inbound.kind == "photo" else inbound.document
        ctx.draft["files"] = [*files, f"{inbound.kind}:{reference}"]
        return Outcome.STAY


def summary(ctx: Context) -> str:
    draft = ctx.draft
    names = ctx.t("list.separator").join(name for _, name, _ in draft.get("cosigners", []))
    lines = [
        ctx.t("proposal.summary.kind", kind=kind_label(ctx, str(draft.get("kind", "")))),
        ctx.t("proposal.summary.title", title=draft.get("title", "")),
        ctx.t("proposal.summary.body", body=draft.get("body", "")),
        ctx.t("proposal.summary.files", count=len(draft.get("files", []))),
        ctx.t("proposal.summary.cosigners", names=names or ctx.t("proposal.summary.nobody")),
    ]
    return "\n".join(lines)


KIND, TITLE, BODY, FILES, COSIGNERS = KindStep(), TitleStep(), BodyStep(), FilesStep(), CosignersStep()


def open_button(ctx: Context, proposal: Proposal) -> Button:
    return Button(f"{COMMAND_BUTTON}/proposals {proposal.number}", ctx.t("proposal.button.open"))


class ProposalFlow(Flow):
    """/proposal (提案): a representative drafts a proposal, motion or inquiry and invites co-signers."""

    name = "proposal"
    action = Action.FILE_PROPOSAL
    steps = (
        KIND,
        TITLE,
        BODY,
        FILES,
        COSIGNERS,
        ConfirmStep("proposal", summary=summary, editable=(KIND, TITLE, BODY, FILES, COSIGNERS)),
    )

    async def prefill(self, ctx: Context, arguments: str) -> None:
        author = await ctx.session.get(Representative, ctx.representative_id)
        assert author is not None
        ctx.draft["author_id"] = author.id
        ctx.draft["author_level"] = author.level

    async def finish(self, ctx: Context) -> list[Reply]:
        draft = ctx.draft
        entry = proposals.Draft(
            kind=str(draft["kind"]),
            title=str(draft["title"]),
            body=str(draft["body"]),
            files=tuple(draft.get("files", [])),
            cosigners=tuple(int(rep_id) for rep_id, _, _ in draft.get("cosigners", [])),
        )
        who = Actor(ctx.standing, ctx.identity)
        try:
            proposal = await proposals.file(
                ctx.session, who=who, draft=entry, settings=ctx.settings, now=ctx.now, render=render
            )
        except proposals.NotReady as refused:
            kind = proposals.kind_of(ctx.settings, entry.kind)
            lacking = proposals.missing(kind, body=entry.body, files=len(entry.files), accepted=0)
            raise InvalidInput("proposal.error.cannot_save", missing=missing_text(ctx, lacking)) from refused
        invited = len(entry.cosigners)
        if proposal.state == proposals.SUBMITTED:
            text = ctx.t("proposal.saved_submitted", number=proposal.number, title=proposal.title)
        else:
            text = ctx.t("proposal.saved", number=proposal.number, title=proposal.title, count=invited)
            lacking = await proposals.shortfall(ctx.session, proposal=proposal, settings=ctx.settings)
            if lacking:
                text += "\n" + ctx.t("proposal.still_missing", missing=missing_text(ctx, lacking))
            else:
                text += "\n" + ctx.t("proposal.may_submit", number=proposal.number)
        return [Reply(text, (open_button(ctx, proposal),))]


# --- /proposals: following and acting ---------------------------------------------------------------------


class PickStep(Step):
    """The list of proposals, as buttons; a number typed opens that proposal."""

    key = "proposal_id"
    resets = ("step",)

    async def prompt(self, ctx: Context) -> Prompt:
        offset = int(ctx.draft.get("offset", 0))
        found = await proposals.queue(ctx.session, standing=ctx.standing, offset=offset)
        buttons = [Button(f"proposal:pick:{proposal.id}", proposal.number) for proposal in found.proposals]
        if offset + len(found.proposals) < found.total:
            buttons.append(Button("proposal:more", ctx.t("proposal.button.more")))
        header = ctx.t(
            "proposal.ask.pick",
            total=found.total,
            first=offset + 1 if found.proposals else 0,
            last=offset + len(found.proposals),
        )
        lines = [proposal_line(ctx, proposal) for proposal in found.proposals]
        return Prompt("\n".join([header, *lines]), tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.data == "proposal:more":
            ctx.draft["offset"] = int(ctx.draft.get("offset", 0)) + proposals.QUEUE_SIZE
            return Outcome.STAY
        if inbound.kind == "button":
            picked = await ctx.session.get(Proposal, int(inbound.data.removeprefix("proposal:pick:")))
            if picked is None:
                raise InvalidInput("dialog.stale_button")
            number = picked.number
        else:
            number = text_answer(inbound.text, limit=24)
        proposal, _ = await proposals.open_proposal(
            ctx.session, standing=ctx.standing, number=number, today=ctx.today, settings=ctx.settings
        )
        ctx.draft["proposal_id"] = proposal.id
        ctx.draft["kind"] = proposal.kind  # inviting more co-signers asks the kind's level
        ctx.draft.pop("offset", None)
        return Outcome.NEXT


NO_INPUT = ("cosign", "decline", "submit", "establish")  # steps taken as soon as they are chosen


async def current(ctx: Context) -> tuple[Proposal, list[str]]:
    """The proposal the dialog is at, as it is now, and the steps this person may take on it."""
    proposal = await ctx.session.get(Proposal, int(ctx.draft["proposal_id"]), populate_existing=True)
    assert proposal is not None
    record = await proposals.record_for(ctx.session, standing=ctx.standing, proposal=proposal)
    return proposal, proposals.allowed_steps(ctx.standing, record, proposal)


class ActionStep(Step):
    """The proposal in full and the steps this person may take on it now."""

    key = "step"
    accepts: ClassVar[frozenset[InputKind]] = frozenset()
    resets = (
        "sure",
        "reason",
        "into",
        "department",
        "cosigners_done",
        "cosigners",
        "found",
        "note",
        "attachment",
        "evaluation",
        "evaluation_note",
    )

    async def prompt(self, ctx: Context) -> Prompt:
        proposal, steps = await current(ctx)
        buttons = [Button(f"proposal:do:{step}", ctx.t(f"proposal.button.{step}")) for step in steps]
        buttons.append(Button("proposal:do:list", ctx.t("proposal.button.list")))
        text = await details(ctx, proposal)
        if ctx.draft.pop("step_gone", None):
            text = ctx.t("proposal.error.step_gone") + "\n\n" + text
        if not steps:
            text += "\n\n" + ctx.t("proposal.nothing_to_do")
        return Prompt(text, tuple(buttons))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        step = inbound.data.removeprefix("proposal:do:")
        if step == "list":
            ctx.draft.pop("proposal_id", None)
            return Outcome.STAY
        _, steps = await current(ctx)
        if step not in steps:
            raise InvalidInput("proposal.error.step_gone")
        ctx.draft["step"] = step
        return Outcome.FINISH if step in NO_INPUT else Outcome.NEXT


class ForStep(Step):
    """A question asked for some steps only."""

    steps: ClassVar[tuple[str, ...]]

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("step") in self.steps


class SureStep(ForStep, YesNoStep):
    key = "sure"
    steps = ("withdraw",)
    question = "proposal.ask.withdraw"
    data = "proposal:sure"

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        await super().receive(ctx, inbound)
        if not ctx.draft["sure"]:
            ctx.draft.pop("sure")
            ctx.draft.pop("step")
            return Outcome.STAY
        return Outcome.FINISH


class ReasonStep(ForStep):
    """Why the proposal is not established: required, and sent to the author."""

    key = "reason"
    steps = ("refuse",)

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("proposal.ask.reason", limit=proposals.MAX_REASON))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["reason"] = text_answer(inbound.text, limit=proposals.MAX_REASON)
        return Outcome.FINISH


class IntoStep(ForStep):
    """The proposal this one is merged into, by its number."""

    key = "into"
    steps = ("merge",)

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("proposal.ask.into"))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["into"] = text_answer(inbound.text, limit=24)
        return Outcome.FINISH


class DepartmentStep(ForStep):
    key = "department"
    steps = ("assign",)
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        units = await cases.departments(ctx.session)
        buttons = tuple(Button(f"proposal:dept:{index}", unit) for index, unit in enumerate(units))
        return Prompt(ctx.t("proposal.ask.department"), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        units = await cases.departments(ctx.session)
        index = inbound.data.removeprefix("proposal:dept:")
        if not index.isdigit() or int(index) >= len(units):
            raise InvalidInput("dialog.stale_button")
        ctx.draft["department"] = units[int(index)]
        return Outcome.FINISH


class NoteStep(ForStep):
    """A progress note (words), or the answer: words, with a photo or a file if the department has one (its
    caption, or the words sent next, are the answer)."""

    key = "note"
    steps = ("progress", "answer")
    accepts: ClassVar[frozenset[InputKind]] = frozenset({"text", "photo", "document"})

    async def prompt(self, ctx: Context) -> Prompt:
        if "attachment" in ctx.draft:
            return Prompt(ctx.t("proposal.ask.note_attached", limit=MAX_NOTE))
        return Prompt(ctx.t(f"proposal.ask.note_{ctx.draft['step']}", limit=MAX_NOTE))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        if inbound.kind in ("photo", "document"):
            if ctx.draft["step"] == "progress":
                raise InvalidInput("proposal.error.note_text")
            reference = inbound.photo if inbound.kind == "photo" else inbound.document
            ctx.draft["attachment"] = f"{inbound.kind}:{reference}"
            if not inbound.text.strip():
                return Outcome.STAY  # the file is kept; the answer's words are still needed
        ctx.draft["note"] = text_answer(inbound.text, limit=MAX_NOTE)
        return Outcome.FINISH


class EvaluationStep(ForStep):
    key = "evaluation"
    steps = ("evaluate",)
    accepts: ClassVar[frozenset[InputKind]] = frozenset()

    async def prompt(self, ctx: Context) -> Prompt:
        proposal, _ = await current(ctx)
        buttons = tuple(
            Button(f"proposal:evaluation:{evaluation}", ctx.t(f"proposal.evaluation.{evaluation}"))
            for evaluation in proposals.EVALUATIONS
        )
        key = "proposal.ask.evaluation" if proposal.answers < 2 else "proposal.ask.evaluation_last"
        return Prompt(ctx.t(key, answer=proposal.answer), buttons)

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        evaluation = inbound.data.removeprefix("proposal:evaluation:")
        if evaluation not in proposals.EVALUATIONS:
            raise InvalidInput("dialog.stale_button")
        ctx.draft["evaluation"] = evaluation
        return Outcome.NEXT if evaluation == "dissatisfied" else Outcome.FINISH


class EvaluationNoteStep(ForStep):
    """What a dissatisfied author finds wanting: the department reads it with the second request."""

    key = "evaluation_note"
    steps = ("evaluate",)

    def applies(self, draft: dict[str, Any]) -> bool:
        return super().applies(draft) and draft.get("evaluation") == "dissatisfied"

    async def prompt(self, ctx: Context) -> Prompt:
        return Prompt(ctx.t("proposal.ask.evaluation_note", limit=proposals.MAX_REASON))

    async def receive(self, ctx: Context, inbound: Inbound) -> Outcome:
        ctx.draft["evaluation_note"] = text_answer(inbound.text, limit=proposals.MAX_REASON)
        return Outcome.FINISH


class InviteStep(ForStep, CosignersStep):
    """More co-signers, chosen as in /proposal."""

    steps = ("invite",)

    def applies(self, draft: dict[str, Any]) -> bool:
        return draft.get("step") == "invite"


async def perform(ctx: Context, proposal: Proposal, step: str) -> Proposal:
    """The storage function of a step, with what the dialog collected."""
    draft, settings, now, session = ctx.draft, ctx.settings, ctx.now, ctx.session
    who = Actor(ctx.standing, ctx.identity)
    assert proposal.id is not None
    common: dict[str, Any] = {
        "who": who,
        "proposal_id": proposal.id,
        "settings": settings,
        "now": now,
        "render": render,
    }
    if step in ("cosign", "decline"):
        return await proposals.cosign(session, accept=step == "cosign", **common)
    if step == "submit":
        try:
            return await proposals.submit(session, **common)
        except proposals.NotReady as refused:
            raise InvalidInput(
                "proposal.error.cannot_submit", number=proposal.number, missing=missing_text(ctx, refused.shortfall)
            ) from refused
    if step == "invite":
        cosigners = [int(rep_id) for rep_id, _, _ in draft.get("cosigners", [])]
        return await proposals.invite(session, cosigners=cosigners, **common)
    if step == "withdraw":
        return await proposals.withdraw(session, **common)
    if step == "establish":
        return await proposals.establish(session, **common)
    if step == "refuse":
        return await proposals.refuse(session, reason=str(draft["reason"]), **common)
    if step == "merge":
        return await proposals.merge(session, into=str(draft["into"]), **common)
    if step == "assign":
        calendar = calendar_of(settings)
        return await proposals.assign(session, department=str(draft["department"]), calendar=calendar, **common)
    if step == "progress":
        return await proposals.progress(session, note=str(draft["note"]), **common)
    if step == "answer":
        attachment = draft.get("attachment")
        return await proposals.answer(session, text=str(draft["note"]), attachment=attachment, **common)
    if step == "evaluate":
        return await proposals.evaluate(
            session,
            evaluation=str(draft["evaluation"]),
            note=str(draft.get("evaluation_note", "")),
            calendar=calendar_of(settings),
            **common,
        )
    raise InvalidInput("dialog.stale_button")


def last_answer(draft: dict[str, Any]) -> str:
    """The draft entry of the question a step ends with (the step itself for those taken as chosen)."""
    step = str(draft.get("step", ""))
    if step == "evaluate" and draft.get("evaluation") == "dissatisfied":
        return "evaluation_note"
    last = {
        "withdraw": "sure",
        "refuse": "reason",
        "merge": "into",
        "assign": "department",
        "invite": "cosigners_done",
        "progress": "note",
        "answer": "note",
        "evaluate": "evaluation",
    }
    return last.get(step, "step")


class ProposalsFlow(Flow):
    """/proposals: the proposals a person follows, one opened with its history and the steps they may take."""

    name = "proposals"
    action = Action.PROPOSAL_LIST

    async def prefill(self, ctx: Context, arguments: str) -> None:
        """`/proposals TA-2026-0003` opens one; `/proposals TA-2026-0003 cosign` (a notice's button) also takes
        that step when it is still allowed, and otherwise says so and shows the proposal."""
        number, _, step = arguments.strip().partition(" ")
        representative = ctx.standing.representative_id
        if representative is not None:
            author = await ctx.session.get(Representative, representative)
            ctx.draft["author_id"] = representative
            ctx.draft["author_level"] = author.level if author else ""
        if not number:
            if not (await proposals.queue(ctx.session, standing=ctx.standing, limit=1)).total:
                raise Conflict("proposal.none")
            return
        proposal, _ = await proposals.open_proposal(
            ctx.session, standing=ctx.standing, number=number, today=ctx.today, settings=ctx.settings
        )
        ctx.draft["proposal_id"] = proposal.id
        ctx.draft["kind"] = proposal.kind
        step = step.strip().lower()
        if step:
            _, steps = await current(ctx)
            if step in steps:
                ctx.draft["step"] = step
            else:
                ctx.draft["step_gone"] = True

    async def finish(self, ctx: Context) -> list[Reply]:
        proposal = await ctx.session.get(Proposal, int(ctx.draft["proposal_id"]))
        assert proposal is not None
        step = str(ctx.draft["step"])
        try:
            proposal = await perform(ctx, proposal, step)
        except LianxinError:
            # The engine says why and asks the question that finished the dialog again: it must be unanswered.
            ctx.draft.pop(last_answer(ctx.draft), None)
            raise
        text = ctx.t(f"proposal.done.{step}", number=proposal.number, state=ctx.t(f"proposal.state.{proposal.state}"))
        return [Reply(text, (open_button(ctx, proposal),))]


ProposalsFlow.steps = (
    PickStep(),
    ActionStep(),
    SureStep(),
    ReasonStep(),
    IntoStep(),
    DepartmentStep(),
    InviteStep(),
    NoteStep(),
    EvaluationStep(),
    EvaluationNoteStep(),
)
