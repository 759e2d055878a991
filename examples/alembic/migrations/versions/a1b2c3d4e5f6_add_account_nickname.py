"""add a nickname to accounts

Revision ID: a1b2c3d4e5f6
Revises:
"""
from alembic import op
import sqlalchemy as sa

revision = "a1b2c3d4e5f6"
down_revision = None


def upgrade():
    op.add_column("accounts", sa.Column("nickname", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("accounts", "nickname")
