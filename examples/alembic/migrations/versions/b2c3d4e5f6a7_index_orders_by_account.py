"""index orders by account (without CONCURRENTLY: writes wait for the whole build)

Revision ID: b2c3d4e5f6a7
Revises: a1b2c3d4e5f6
"""
from alembic import op

revision = "b2c3d4e5f6a7"
down_revision = "a1b2c3d4e5f6"


def upgrade():
    op.create_index("orders_account_id_idx", "orders", ["account_id"])


def downgrade():
    op.drop_index("orders_account_id_idx", table_name="orders")
