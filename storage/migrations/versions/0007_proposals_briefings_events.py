"""the rest of a representative's year: proposals, motions and inquiries with their co-signers, steps and files;
briefings with read receipts; opinion requests with questions and answers; activities with evidence; events with
invitations and check-ins; commitments

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:39:48
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proposal_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "briefing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("file_ref", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("briefing", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_briefing_sender_id"), ["sender_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_briefing_sent_at"), ["sent_at"], unique=False)

    op.create_table(
        "opinion_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("file_ref", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("closes_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("sent_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("summary_sent_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("opinion_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opinion_request_sender_id"), ["sender_id"], unique=False)

    op.create_table(
        "programme_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("starts_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("ends_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Integer(), nullable=True),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["staff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("programme_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_programme_event_starts_at"), ["starts_at"], unique=False)

    op.create_table(
        "activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_done_on"), ["done_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_activity_kind"), ["kind"], unique=False)
        batch_op.create_index("ix_activity_rep_date", ["representative_id", "done_on"], unique=False)

    op.create_table(
        "briefing_recipient",
        sa.Column("briefing_id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("read_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["briefing_id"],
            ["briefing.id"],
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("briefing_id", "representative_id"),
    )
    with op.batch_alter_table("briefing_recipient", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_briefing_recipient_representative_id"), ["representative_id"], unique=False
        )

    op.create_table(
        "commitment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("progress_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("commitment", schema=None) as batch_op:
        batch_op.create_index("ix_commitment_rep_year", ["representative_id", "year"], unique=False)

    op.create_table(
        "event_invitation",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("answer", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("checked_in_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("check_in_by", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("distance_m", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["programme_event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("event_id", "representative_id"),
    )
    with op.batch_alter_table("event_invitation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_invitation_representative_id"), ["representative_id"], unique=False)

    op.create_table(
        "opinion_question",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["opinion_request.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "position"),
    )
    with op.batch_alter_table("opinion_question", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opinion_question_request_id"), ["request_id"], unique=False)

    op.create_table(
        "opinion_recipient",
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("reminded_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["opinion_request.id"],
        ),
        sa.PrimaryKeyConstraint("request_id", "representative_id"),
    )
    with op.batch_alter_table("opinion_recipient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opinion_recipient_representative_id"), ["representative_id"], unique=False)

    op.create_table(
        "proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("evaluation", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("evaluation_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("reviewed_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("assigned_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("closed_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("chased_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["representative.id"],
        ),
        sa.ForeignKeyConstraint(
            ["merged_into"],
            ["proposal.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proposal_department"), ["department"], unique=False)
        batch_op.create_index("ix_proposal_state_due", ["state", "due_on"], unique=False)

    op.create_table(
        "activity_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("file_ref", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("activity_evidence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activity_evidence_activity_id"), ["activity_id"], unique=False)

    op.create_table(
        "opinion_answer",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["opinion_question.id"],
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("question_id", "representative_id"),
    )
    with op.batch_alter_table("opinion_answer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_opinion_answer_representative_id"), ["representative_id"], unique=False)

    op.create_table(
        "proposal_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposal.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proposal_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_event_proposal_id"), ["proposal_id"], unique=False)

    op.create_table(
        "proposal_signer",
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("invited_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposal.id"],
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("proposal_id", "representative_id"),
    )
    with op.batch_alter_table("proposal_signer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_signer_representative_id"), ["representative_id"], unique=False)

    op.create_table(
        "proposal_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("file_ref", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["proposal_event.id"],
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposal.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proposal_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proposal_attachment_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("proposal_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_attachment_proposal_id"))

    op.drop_table("proposal_attachment")
    with op.batch_alter_table("proposal_signer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_signer_representative_id"))

    op.drop_table("proposal_signer")
    with op.batch_alter_table("proposal_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proposal_event_proposal_id"))

    op.drop_table("proposal_event")
    with op.batch_alter_table("opinion_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opinion_answer_representative_id"))

    op.drop_table("opinion_answer")
    with op.batch_alter_table("activity_evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activity_evidence_activity_id"))

    op.drop_table("activity_evidence")
    with op.batch_alter_table("proposal", schema=None) as batch_op:
        batch_op.drop_index("ix_proposal_state_due")
        batch_op.drop_index(batch_op.f("ix_proposal_department"))
        batch_op.drop_index(batch_op.f("ix_proposal_author_id"))

    op.drop_table("proposal")
    with op.batch_alter_table("opinion_recipient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opinion_recipient_representative_id"))

    op.drop_table("opinion_recipient")
    with op.batch_alter_table("opinion_question", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opinion_question_request_id"))

    op.drop_table("opinion_question")
    with op.batch_alter_table("event_invitation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_invitation_representative_id"))

    op.drop_table("event_invitation")
    with op.batch_alter_table("commitment", schema=None) as batch_op:
        batch_op.drop_index("ix_commitment_rep_year")

    op.drop_table("commitment")
    with op.batch_alter_table("briefing_recipient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_briefing_recipient_representative_id"))

    op.drop_table("briefing_recipient")
    with op.batch_alter_table("activity", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_rep_date")
        batch_op.drop_index(batch_op.f("ix_activity_kind"))
        batch_op.drop_index(batch_op.f("ix_activity_done_on"))

    op.drop_table("activity")
    with op.batch_alter_table("programme_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_programme_event_starts_at"))

    op.drop_table("programme_event")
    with op.batch_alter_table("opinion_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_opinion_request_sender_id"))

    op.drop_table("opinion_request")
    with op.batch_alter_table("briefing", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_briefing_sent_at"))
        batch_op.drop_index(batch_op.f("ix_briefing_sender_id"))

    op.drop_table("briefing")
    op.drop_table("proposal_counter")
