"""one notice chat per person (chat_identity.notices, notices_chosen) and the running channel's status row
(channel_status)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Added in place, not by rebuilding the table (SQLite's batch mode would copy it and drop the original, which
    # every row referring to a chat identity forbids while foreign keys are enforced). On SQLite a downgrade leaves
    # the columns (see there), so they may be here already.
    present = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("chat_identity")}
    if "notices" not in present:
        op.add_column("chat_identity", sa.Column("notices", sa.Boolean(), server_default=sa.true(), nullable=False))
    if "notices_chosen" not in present:
        op.add_column(
            "chat_identity", sa.Column("notices_chosen", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    op.create_table(
        "channel_status",
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("self_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("login_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("last_event_at", storage.models.UTCDateTime(), nullable=True),
        sa.Column("down_since", storage.models.UTCDateTime(), nullable=True),
        sa.Column("qr_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("updated_at", storage.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )

    _one_notice_chat_per_person()


def _one_notice_chat_per_person() -> None:
    """Until now every bound chat of a person received every notice: from now on only one does, the newest chat of
    each representative and member of staff (the newest that has not blocked the bot, when there is one; a console
    chat, an operator's tool, only when there is no other). A chat loses the notices when another chat of the same
    person is better: not blocked where it is; as blocked, and not the console where it is; or as good, and newer."""
    op.get_bind().execute(
        sa.text(
            "UPDATE chat_identity SET notices = :no WHERE EXISTS ("
            " SELECT 1 FROM chat_identity other WHERE other.id <> chat_identity.id"
            " AND ((chat_identity.role = 'representative' AND chat_identity.representative_id IS NOT NULL"
            "       AND other.role = 'representative' AND other.representative_id = chat_identity.representative_id)"
            "   OR (chat_identity.staff_id IS NOT NULL AND other.staff_id = chat_identity.staff_id))"
            " AND ((other.blocked_at IS NULL AND chat_identity.blocked_at IS NOT NULL)"
            "   OR ((other.blocked_at IS NULL) = (chat_identity.blocked_at IS NULL)"
            "       AND ((other.channel <> 'console' AND chat_identity.channel = 'console')"
            "         OR ((other.channel = 'console') = (chat_identity.channel = 'console')"
            "             AND other.id > chat_identity.id)))))"
        ),
        {"no": False},
    )


def downgrade() -> None:
    op.drop_table("channel_status")
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("chat_identity", "notices_chosen")
        op.drop_column("chat_identity", "notices")
    else:  # the columns stay (dropping them would rebuild chat_identity, see upgrade); every chat receives again
        op.execute(sa.text("UPDATE chat_identity SET notices = 1, notices_chosen = 0"))
