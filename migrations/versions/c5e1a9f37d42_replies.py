"""replies: messages quote a message of the same conversation (PROTOCOL.md v2 "Replies")

Revision ID: c5e1a9f37d42
Revises: b4d2f8e61c05
Create Date: 2026-12-01 12:35:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'c5e1a9f37d42'
down_revision = 'b4d2f8e61c05'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reply_to_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_messages_reply_to_id'), ['reply_to_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_messages_reply_to_id_messages'), 'messages', ['reply_to_id'],
                                    ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_messages_reply_to_id_messages'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_messages_reply_to_id'))
        batch_op.drop_column('reply_to_id')
