"""A deployment is recorded once: unique (environment, stack, tier, tag, digest, git_commit).

Existing duplicates (from retried records before this constraint) are folded into their earliest
event first, so the constraint can be created on any database this service ran on.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

KEY = ["environment", "stack", "tier", "tag", "digest", "git_commit"]


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM deployment_events AS later
        USING deployment_events AS earlier
        WHERE (later.environment, later.stack, later.tier, later.tag, later.git_commit)
            = (earlier.environment, earlier.stack, earlier.tier, earlier.tag, earlier.git_commit)
          AND later.digest IS NOT DISTINCT FROM earlier.digest
          AND (later.deployed_at, later.id) > (earlier.deployed_at, earlier.id)
        """
    )
    op.create_unique_constraint(
        "uq_deployment_events_record",
        "deployment_events",
        KEY,
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_constraint("uq_deployment_events_record", "deployment_events", type_="unique")
