"""staff invitations; anonymous mailbox items keep their writer apart (mailbox_relay); outbox rows to scrub once
sent; indexes on a chat's recent events and messages

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 16:09:31

The data step moves the writer of every anonymous item stored so far out of `mailbox_item` into `mailbox_relay`,
names no actor in their audit rows, and deletes the stored events and messages of their chats, which quote what
they typed (the running bot would have purged them after `delivery.keep_days` anyway). It also unbinds the chats of
representatives the roster had taken out of office, which a roster import did not do until now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mailbox_relay",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["identity_id"], ["chat_identity.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["mailbox_item.id"]),
        sa.PrimaryKeyConstraint("item_id"),
    )
    with op.batch_alter_table("mailbox_relay", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mailbox_relay_identity_id"), ["identity_id"], unique=False)

    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.create_index("ix_inbox_chat", ["channel", "chat_key", "received_at"], unique=False)

    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch_op.alter_column("representative_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(batch_op.f("ix_invitation_staff_id"), ["staff_id"], unique=False)
        batch_op.create_foreign_key("fk_invitation_staff_id_staff", "staff", ["staff_id"], ["id"])

    with op.batch_alter_table("mailbox_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("link_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.alter_column("identity_id", existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_index(batch_op.f("ix_mailbox_item_link_token"), ["link_token"], unique=False)
        batch_op.create_foreign_key(
            "fk_mailbox_item_link_token_mailbox_link", "mailbox_link", ["link_token"], ["token"]
        )

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scrub", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index("ix_outbox_chat", ["channel", "chat_key", "id"], unique=False)

    _separate_anonymous_writers()
    _unbind_representatives_out_of_office()


def _unbind_representatives_out_of_office() -> None:
    """Until now a roster import that took a representative out of office left their chats bound: they are
    unbound, and their half-finished dialogs dropped (the running bot would refuse them anyway)."""
    connection = op.get_bind()
    gone = "SELECT id FROM representative WHERE NOT active"
    connection.execute(
        sa.text(
            "DELETE FROM dialog_state WHERE EXISTS (SELECT 1 FROM chat_identity c"
            " WHERE c.channel = dialog_state.channel AND c.external_id = dialog_state.user_id"
            f" AND c.representative_id IN ({gone}))"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE chat_identity SET role = 'resident', representative_id = NULL, staff_id = NULL "
            f"WHERE representative_id IN ({gone})"
        )
    )


def _separate_anonymous_writers() -> None:
    connection = op.get_bind()
    writers = connection.execute(
        sa.text(
            "SELECT m.id, m.identity_id, c.channel, c.external_id FROM mailbox_item m "
            "JOIN chat_identity c ON c.id = m.identity_id WHERE m.anonymous"
        )
    ).all()
    for item_id, identity_id, channel, external_id in writers:
        connection.execute(
            sa.text("INSERT INTO mailbox_relay (item_id, identity_id) VALUES (:item, :identity)"),
            {"item": item_id, "identity": identity_id},
        )
        connection.execute(sa.text("UPDATE mailbox_item SET identity_id = NULL WHERE id = :item"), {"item": item_id})
        # The trail of the writer's chat (storage.records.relay.conceal): gone, as it goes for letters from now on.
        chat = {"channel": channel, "chat": external_id}
        here = "channel = :channel AND chat_key = :chat"
        connection.execute(sa.text(f"UPDATE outbox SET inbox_id = NULL WHERE {here}"), chat)
        connection.execute(sa.text(f"DELETE FROM outbox WHERE {here} AND status IN ('sent', 'failed')"), chat)
        connection.execute(sa.text(f"UPDATE outbox SET scrub = :yes WHERE {here}"), {**chat, "yes": True})
        connection.execute(
            sa.text(
                f"DELETE FROM inbox WHERE {here} AND status IN ('done', 'parked') "
                "AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.inbox_id = inbox.id)"
            ),
            chat,
        )
        connection.execute(
            sa.text(
                "UPDATE audit_log SET actor = 'anonymous' WHERE action = 'mailbox.submit' "
                "AND entity = 'mailbox_item' AND entity_id = :item"
            ),
            {"item": str(item_id)},
        )


def downgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT count(*) FROM mailbox_relay")).scalar_one():
        # Before 0004 an anonymous item kept its writer: going back would tie every such letter to its writer again.
        raise RuntimeError("cannot downgrade below 0004 while anonymous letters exist: it would name their writers")
    connection.execute(
        sa.text(
            "UPDATE mailbox_item SET identity_id = "
            "(SELECT identity_id FROM mailbox_relay WHERE mailbox_relay.item_id = mailbox_item.id) "
            "WHERE identity_id IS NULL"
        )
    )
    connection.execute(sa.text("DELETE FROM mailbox_item WHERE identity_id IS NULL"))
    connection.execute(sa.text("DELETE FROM invitation WHERE representative_id IS NULL"))

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_chat")
        batch_op.drop_column("scrub")

    with op.batch_alter_table("mailbox_item", schema=None) as batch_op:
        batch_op.drop_constraint("fk_mailbox_item_link_token_mailbox_link", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_mailbox_item_link_token"))
        batch_op.alter_column("identity_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("link_token")

    with op.batch_alter_table("invitation", schema=None) as batch_op:
        batch_op.drop_constraint("fk_invitation_staff_id_staff", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_invitation_staff_id"))
        batch_op.alter_column("representative_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("staff_id")

    with op.batch_alter_table("inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_inbox_chat")

    with op.batch_alter_table("mailbox_relay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mailbox_relay_identity_id"))

    op.drop_table("mailbox_relay")
