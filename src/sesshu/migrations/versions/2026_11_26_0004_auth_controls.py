"""auth_controls: passkeys, password history and account policy columns (issue 3)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 07:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_allowed", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("password_changed_at", sa.DateTime(), nullable=True))

    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reauth_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("challenge", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("challenge_purpose", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("challenge_expires_at", sa.DateTime(), nullable=True))

    op.create_table(
        "webauthn_credential",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.String(length=200), nullable=False),
        sa.Column("label", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"],
                                name=op.f("fk_webauthn_credential_user_id_staff_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webauthn_credential")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_webauthn_credential_credential_id")),
    )
    with op.batch_alter_table("webauthn_credential", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webauthn_credential_user_id"), ["user_id"], unique=False)

    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["staff_user.id"],
                                name=op.f("fk_password_history_user_id_staff_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    with op.batch_alter_table("password_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_history_user_id"), ["user_id"], unique=False)

    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index("ix_login_failure_client_at", ["client", "occurred_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failure_occurred_at"), ["occurred_at"], unique=False)


def downgrade() -> None:
    op.drop_table("login_failure")
    op.drop_table("password_history")
    op.drop_table("webauthn_credential")
    with op.batch_alter_table("web_session", schema=None) as batch_op:
        batch_op.drop_column("challenge_expires_at")
        batch_op.drop_column("challenge_purpose")
        batch_op.drop_column("challenge")
        batch_op.drop_column("reauth_at")
    with op.batch_alter_table("staff_user", schema=None) as batch_op:
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("totp_allowed")
