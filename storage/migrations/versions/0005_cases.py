"""cases: residents' concerns from intake to rating (case_file, case_event, case_attachment, case_relay,
case_counter); a resident's remembered area; the contact-card mailbox's items become cases

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:56:24

Every mailbox item becomes a registered case of the category "other" (the help class), in the first responsibility
area of the representative it was written to, numbered in the order it came, due 3 working days after it came
(weekends counted; the statutory holidays of those days are not known to a migration). The relay of an anonymous
item becomes the case's relay; the items and their relay are then dropped.
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_counter",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_table(
        "case_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("time_limit", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("area_id", sa.Integer(), nullable=True),
        sa.Column("household_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("representative_id", sa.Integer(), nullable=True),
        sa.Column("reported", sa.Boolean(), nullable=False),
        sa.Column("link_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("identity_id", sa.Integer(), nullable=True),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("department", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kept_by", sa.Integer(), nullable=True),
        sa.Column("registered_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("due_provisional", sa.Boolean(), nullable=False),
        sa.Column("first_action_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("rating", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("rating_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("closed_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("extension_days", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("chased_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("escalated_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["area_id"],
            ["area.id"],
        ),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["household.id"],
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["chat_identity.id"],
        ),
        sa.ForeignKeyConstraint(
            ["kept_by"],
            ["representative.id"],
        ),
        sa.ForeignKeyConstraint(
            ["link_token"],
            ["mailbox_link.token"],
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.create_index("ix_case_area_state", ["area_id", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_department"), ["department"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_household_id"), ["household_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_identity_id"), ["identity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_kept_by"), ["kept_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_link_token"), ["link_token"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_representative_id"), ["representative_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_file_visit_id"), ["visit_id"], unique=False)
        batch_op.create_index("ix_case_state_due", ["state", "due_on"], unique=False)

    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("to_resident", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_event_case_id"), ["case_id"], unique=False)

    op.create_table(
        "case_relay",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("writer", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["chat_identity.id"],
        ),
        sa.PrimaryKeyConstraint("case_id", "identity_id"),
    )
    with op.batch_alter_table("case_relay", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_relay_identity_id"), ["identity_id"], unique=False)

    op.create_table(
        "case_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("file_ref", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["case_file.id"],
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["case_event.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_attachment_case_id"), ["case_id"], unique=False)

    # Added in place, not by rebuilding the table (SQLite's batch mode would copy it and drop the original, which
    # every row referring to a chat identity forbids while foreign keys are enforced). On SQLite a downgrade leaves
    # the column (see there), so it may be here already.
    if "area_id" not in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("chat_identity")}:
        op.add_column(
            "chat_identity",
            sa.Column(
                "area_id", sa.Integer(), sa.ForeignKey("area.id", name="fk_chat_identity_area_id_area"), nullable=True
            ),
            inline_references=True,
        )

    _mailbox_items_become_cases()

    with op.batch_alter_table("mailbox_relay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailbox_relay_identity_id"))
    op.drop_table("mailbox_relay")
    with op.batch_alter_table("mailbox_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailbox_item_identity_id"))
        batch_op.drop_index(batch_op.f("ix_mailbox_item_link_token"))
        batch_op.drop_index(batch_op.f("ix_mailbox_item_representative_id"))
    op.drop_table("mailbox_item")


def _mailbox_items_become_cases() -> None:
    connection = op.get_bind()
    items = connection.execute(
        sa.text(
            "SELECT m.id, m.representative_id, m.identity_id, m.link_token, m.anonymous, m.name, m.phone, m.text,"
            " m.created_at, r.identity_id AS relayed,"
            " (SELECT min(area_id) FROM rep_area WHERE representative_id = m.representative_id) AS area_id"
            " FROM mailbox_item m LEFT JOIN mailbox_relay r ON r.item_id = m.id ORDER BY m.id"
        )
    ).mappings()
    last: dict[int, int] = {}
    for item in items:
        created = item["created_at"]
        if isinstance(created, str):  # SQLite hands back text
            created = datetime.fromisoformat(created)
        last[created.year] = last.get(created.year, 0) + 1
        case_id = connection.execute(
            sa.text(
                "INSERT INTO case_file (number, source, category, time_limit, text, area_id, representative_id,"
                " reported, link_token, identity_id, anonymous, name, phone, consent, state, department,"
                " registered_at, due_on, due_provisional, answer, rating, rating_reason, reopened, extension_days,"
                " extension_reason, updated_at)"
                " VALUES (:number, :source, 'other', 'help', :text, :area_id, :representative_id, :false,"
                " :link_token, :identity_id, :anonymous, :name, :phone, :consent, 'registered', '', :at, :due,"
                " :false, '', '', '', 0, 0, '', :at) RETURNING id"
            ),
            {
                "number": f"LX-{created.year}-{last[created.year]:06d}",
                "source": "card" if item["link_token"] else "mailbox",
                "text": item["text"],
                "area_id": item["area_id"],
                "representative_id": item["representative_id"],
                "false": False,
                "link_token": item["link_token"],
                "identity_id": None if item["anonymous"] else item["identity_id"],
                "anonymous": bool(item["anonymous"]),
                "name": "" if item["anonymous"] else item["name"],
                "phone": "" if item["anonymous"] else item["phone"],
                "consent": bool(item["phone"]) and not item["anonymous"],
                "at": created,
                "due": _weekdays_after(created.date(), 3),
            },
        ).scalar_one()
        actor = "anonymous" if item["anonymous"] else f"identity:{item['identity_id']}"
        connection.execute(
            sa.text(
                "INSERT INTO case_event (case_id, at, actor, action, note, to_resident, detail)"
                " VALUES (:case_id, :at, :actor, 'registered', '', :false, '{}')"
            ),
            {"case_id": case_id, "at": created, "actor": actor, "false": False},
        )
        if item["relayed"] is not None:
            connection.execute(
                sa.text("INSERT INTO case_relay (case_id, identity_id, writer) VALUES (:case_id, :identity, :true)"),
                {"case_id": case_id, "identity": item["relayed"], "true": True},
            )
    for year, number in last.items():
        connection.execute(
            sa.text("INSERT INTO case_counter (year, last) VALUES (:year, :last)"), {"year": year, "last": number}
        )


def _weekdays_after(day: date, count: int) -> date:
    while count:
        day += timedelta(days=1)
        count -= day.weekday() < 5
    return day


def downgrade() -> None:
    """Back to mailbox items: only while no case exists (a case's life cannot be kept in a mailbox item)."""
    count = op.get_bind().execute(sa.text("SELECT count(*) FROM case_file")).scalar_one()
    if count:
        raise RuntimeError(f"{count} cases exist: downgrading below 0005 would lose them; export them first")
    if op.get_bind().dialect.name != "sqlite":
        # SQLite cannot drop a column that refers to another table without rebuilding chat_identity, which the rows
        # referring to it forbid: there the unused column stays, and an upgrade finds it.
        op.drop_column("chat_identity", "area_id")  # its foreign key goes with it

    op.create_table(
        "mailbox_item",
        sa.Column("id", sa.INTEGER(), nullable=False),
        sa.Column("representative_id", sa.INTEGER(), nullable=False),
        sa.Column("identity_id", sa.INTEGER(), nullable=True),
        sa.Column("anonymous", sa.BOOLEAN(), nullable=False),
        sa.Column("name", sa.VARCHAR(length=50), nullable=False),
        sa.Column("phone", sa.VARCHAR(length=20), nullable=False),
        sa.Column("text", sa.TEXT(), nullable=False),
        sa.Column("status", sa.VARCHAR(length=16), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("link_token", sa.VARCHAR(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["chat_identity.id"],
        ),
        sa.ForeignKeyConstraint(
            ["link_token"], ["mailbox_link.token"], name=op.f("fk_mailbox_item_link_token_mailbox_link")
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mailbox_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailbox_item_representative_id"), ["representative_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_mailbox_item_link_token"), ["link_token"], unique=False)
        batch_op.create_index(batch_op.f("ix_mailbox_item_identity_id"), ["identity_id"], unique=False)

    op.create_table(
        "mailbox_relay",
        sa.Column("item_id", sa.INTEGER(), nullable=False),
        sa.Column("identity_id", sa.INTEGER(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["chat_identity.id"],
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["mailbox_item.id"],
        ),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("mailbox_relay", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailbox_relay_identity_id"), ["identity_id"], unique=False)

    with op.batch_alter_table("case_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_attachment_case_id"))

    op.drop_table("case_attachment")
    with op.batch_alter_table("case_relay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_relay_identity_id"))

    op.drop_table("case_relay")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_case_id"))

    op.drop_table("case_event")
    with op.batch_alter_table("case_file", schema=None) as batch_op:
        batch_op.drop_index("ix_case_state_due")
        batch_op.drop_index(batch_op.f("ix_case_file_visit_id"))
        batch_op.drop_index(batch_op.f("ix_case_file_representative_id"))
        batch_op.drop_index(batch_op.f("ix_case_file_link_token"))
        batch_op.drop_index(batch_op.f("ix_case_file_kept_by"))
        batch_op.drop_index(batch_op.f("ix_case_file_identity_id"))
        batch_op.drop_index(batch_op.f("ix_case_file_household_id"))
        batch_op.drop_index(batch_op.f("ix_case_file_department"))
        batch_op.drop_index("ix_case_area_state")

    op.drop_table("case_file")
    op.drop_table("case_counter")
