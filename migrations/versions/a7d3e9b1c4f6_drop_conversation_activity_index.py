"""drop ix_conversations_activity: every send's UPDATE of the conversation row may be HOT

Revision ID: a7d3e9b1c4f6
Revises: e3b7c1d9a5f2
Create Date: 2026-12-03 09:00:00

Every message updates its conversation's updated_at (the conversation list's
order). With updated_at indexed, PostgreSQL could never make that UPDATE a
heap-only tuple update: each send wrote a new entry into all three of the
table's indexes, and a busy conversation's dead versions piled up behind its
primary key until vacuum. Measured (PostgreSQL's CPU per send and commit): one
busy pair 1,150 -> 867 us; 1,000 pairs 873 -> 810 us, within noise. The
list reads a user's memberships by user_id and sorts that user's
conversations, which needs no index on updated_at.
"""
from alembic import op


revision = 'a7d3e9b1c4f6'
down_revision = 'e3b7c1d9a5f2'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_conversations_activity', table_name='conversations')


def downgrade():
    op.create_index('ix_conversations_activity', 'conversations', ['updated_at', 'id'], unique=False)
