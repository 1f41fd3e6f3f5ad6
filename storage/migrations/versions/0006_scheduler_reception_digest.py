"""the schedule and reception days: due items (every reminder, notice, digest, chase and escalation, once each),
reception days with their duty and subscribers, a case noted at a reception, and the township of a station and of
a leader (for the digest's scopes)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 08:08:48

SQLite: the new columns are added in place (rebuilding station, staff or case_file would fail once rows refer to
them), and a downgrade leaves them there, unused; an upgrade finds them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "due_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("due_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("done_at", storage.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("due_item", schema=None) as batch_op:
        batch_op.create_index("ix_due_item_queue", ["state", "due_at"], unique=False)

    op.create_table(
        "reception_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("starts", sa.Time(), nullable=False),
        sa.Column("ends", sa.Time(), nullable=False),
        sa.Column("place", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("station_id", "day", "starts"),
    )
    with op.batch_alter_table("reception_day", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reception_day_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_reception_day_station_id"), ["station_id"], unique=False)

    op.create_table(
        "reception_duty",
        sa.Column("reception_id", sa.Integer(), nullable=False),
        sa.Column("representative_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("answered_at", storage.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["reception_id"],
            ["reception_day.id"],
        ),
        sa.ForeignKeyConstraint(
            ["representative_id"],
            ["representative.id"],
        ),
        sa.PrimaryKeyConstraint("reception_id", "representative_id"),
    )
    with op.batch_alter_table("reception_duty", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reception_duty_representative_id"), ["representative_id"], unique=False)

    op.create_table(
        "reception_subscription",
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["chat_identity.id"],
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["station.id"],
        ),
        sa.PrimaryKeyConstraint("identity_id", "station_id"),
    )
    with op.batch_alter_table("reception_subscription", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reception_subscription_station_id"), ["station_id"], unique=False)

    _add_columns()


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("case_file", "reception_id")  # its index and foreign key go with it
        op.drop_column("staff", "township")
        op.drop_column("station", "township")
    else:  # the column stays; what it pointed at goes
        op.execute("UPDATE case_file SET reception_id = NULL")
    with op.batch_alter_table("reception_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reception_subscription_station_id"))

    op.drop_table("reception_subscription")
    with op.batch_alter_table("reception_duty", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reception_duty_representative_id"))

    op.drop_table("reception_duty")
    with op.batch_alter_table("reception_day", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reception_day_station_id"))
        batch_op.drop_index(batch_op.f("ix_reception_day_day"))

    op.drop_table("reception_day")
    with op.batch_alter_table("due_item", schema=None) as batch_op:
        batch_op.drop_index("ix_due_item_queue")

    op.drop_table("due_item")


def _add_columns() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in ("station", "staff"):
        if "township" not in {column["name"] for column in inspector.get_columns(table)}:
            op.add_column(
                table,
                sa.Column(
                    "township",
                    sqlmodel.sql.sqltypes.AutoString(length=50),
                    server_default=sa.text("''"),
                    nullable=False,
                ),
            )
    if "reception_id" not in {column["name"] for column in inspector.get_columns("case_file")}:
        op.add_column(
            "case_file",
            sa.Column(
                "reception_id",
                sa.Integer(),
                sa.ForeignKey("reception_day.id", name="fk_case_file_reception_id_reception_day"),
                nullable=True,
            ),
            inline_references=True,
        )
        op.create_index("ix_case_file_reception_id", "case_file", ["reception_id"], unique=False)
