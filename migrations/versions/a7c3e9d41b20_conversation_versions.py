"""conversation versions: catch-up of every change (sync with versions)

Revision ID: a7c3e9d41b20
Revises: 15acb188a1a5
Create Date: 2026-12-01 09:30:00

Existing rows get versions that keep the invariant a client relies on (a
message's version never exceeds its conversation's): a conversation starts at
its last_seq and each message at its seq. Departures start empty.
"""
from alembic import op
import sqlalchemy as sa


revision = 'a7c3e9d41b20'
down_revision = '15acb188a1a5'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='0'))
    op.execute('UPDATE conversations SET version = last_seq')
    op.execute('UPDATE messages SET version = seq')
    # The models carry no server default (the services always set a version).
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.alter_column('version', server_default=None)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.alter_column('version', server_default=None)
        batch_op.create_index('ix_messages_conversation_version', ['conversation_id', 'version'], unique=False)

    op.create_table('departures',
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('left_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_departures_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_departures_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', 'user_id', name=op.f('pk_departures'))
    )


def downgrade():
    op.drop_table('departures')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_conversation_version')
        batch_op.drop_column('version')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_column('version')
