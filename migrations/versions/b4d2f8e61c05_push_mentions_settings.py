"""push notifications, mentions and notification settings (PROTOCOL.md v2)

Revision ID: b4d2f8e61c05
Revises: a7c3e9d41b20
Create Date: 2026-12-01 12:30:00

Existing members start at level "all", unmuted, with no unread mentions (older
messages carry no mentions) and nothing pushed.
"""
from alembic import op
import sqlalchemy as sa


revision = 'b4d2f8e61c05'
down_revision = 'a7c3e9d41b20'
branch_labels = None
depends_on = None

_MEMBERSHIP_DEFAULTS = (('unread_mentions', sa.Integer(), '0'), ('notifications', sa.String(length=10), 'all'),
                        ('pushed_seq', sa.Integer(), '0'))


def upgrade():
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        for name, kind, default in _MEMBERSHIP_DEFAULTS:
            batch_op.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        batch_op.add_column(sa.Column('muted_until', sa.DateTime(), nullable=True))
    # The models carry no server default (the services always set them).
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        for name, _kind, _default in _MEMBERSHIP_DEFAULTS:
            batch_op.alter_column(name, server_default=None)
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mentions', sa.String(length=400), nullable=True))

    op.create_table('message_mentions',
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_message_mentions_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_mentions_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_message_mentions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id', 'user_id', 'seq', name=op.f('pk_message_mentions'))
    )
    with op.batch_alter_table('message_mentions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_mentions_message_id'), ['message_id'], unique=False)

    op.create_table('push_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=True),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('address', sa.String(length=2048), nullable=False),
    sa.Column('p256dh', sa.String(length=100), nullable=True),
    sa.Column('auth', sa.String(length=40), nullable=True),
    sa.Column('device_name', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_push_subscriptions_token_id_api_tokens'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_push_subscriptions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscriptions')),
    sa.UniqueConstraint('address', name=op.f('uq_push_subscriptions_address'))
    )
    with op.batch_alter_table('push_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscriptions_token_id'), ['token_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_push_subscriptions_user_id'), ['user_id'], unique=False)

    op.create_table('push_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('subscription_id', sa.Integer(), nullable=True),
    sa.Column('mentioned', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', sa.DateTime(), nullable=False),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_push_jobs_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_push_jobs_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscription_id'], ['push_subscriptions.id'], name=op.f('fk_push_jobs_subscription_id_push_subscriptions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_push_jobs_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_push_jobs'))
    )
    with op.batch_alter_table('push_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_push_jobs_due', ['due_at'], unique=False)


def downgrade():
    op.drop_table('push_jobs')
    op.drop_table('push_subscriptions')
    op.drop_table('message_mentions')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('mentions')
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('muted_until')
        for name, _kind, _default in reversed(_MEMBERSHIP_DEFAULTS):
            batch_op.drop_column(name)
