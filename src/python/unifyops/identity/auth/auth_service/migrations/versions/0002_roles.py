"""Roles: every account has the roles it was granted; existing accounts become plain members.

Before this revision every account had ``environments:read``; strangers who registered keep only
their own profile. Admins are granted again by `uo up` (the operator) or `roles grant`.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# The member role's scopes as of this revision (frozen here: a migration must not change meaning
# when the code's role table does; `migrate` re-derives scopes from roles after upgrading).
MEMBER_SCOPES = ["profile:read", "profile:write"]


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column(
            "roles",
            postgresql.ARRAY(sa.String(32)),
            nullable=False,
            server_default=sa.text("'{member}'"),
        ),
    )
    op.execute(
        sa.text("UPDATE users SET scopes = :scopes").bindparams(
            sa.bindparam("scopes", MEMBER_SCOPES, type_=postgresql.ARRAY(sa.String(64)))
        )
    )


def downgrade() -> None:
    op.drop_column("users", "roles")
