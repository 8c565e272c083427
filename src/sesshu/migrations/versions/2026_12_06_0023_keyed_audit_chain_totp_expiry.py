"""keyed_audit_chain_totp_expiry: the audit log's keyed chain (audit_mac) and the head's MAC, existing
chains sealed; the TOTP fallback's end (staff_user.totp_allowed_until)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 03:00:00

The hash chain alone could be recomputed by anyone who can write the database. Beside it now runs
mac(n) = HMAC(K, mac(n-1) ‖ entry_hash(n)) with K in the key directory (keys.load_audit_key), and the
head carries HMAC(K, head). The entries already written are sealed here, as they stand: run
`sesshu audit verify` (and compare with the outside checkpoints) before upgrading if in doubt.
`sesshu db upgrade` hands the key to this migration; without it a chain with entries is refused.

The TOTP code lapses (auth.service, TOTP rule): accounts that may use it today get 14 days from the
upgrade to register a passkey; demo accounts keep it.
"""
import hashlib
import hmac
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import context, op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_BATCH = 20000


def upgrade() -> None:
    with op.batch_alter_table("staff_user") as batch:
        batch.add_column(sa.Column("totp_allowed_until", sa.DateTime(), nullable=True))
    grace = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(days=14)
    op.execute(sa.text("UPDATE staff_user SET totp_allowed_until = :u WHERE totp_allowed AND NOT is_demo")
               .bindparams(u=grace))
    op.create_table(
        "audit_mac",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_mac")),
    )
    # Append-only like audit_entry.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_mac_no_{verb.lower()} BEFORE {verb} ON audit_mac "
                       "BEGIN SELECT RAISE(ABORT, 'audit_mac is append-only'); END")
    else:
        op.execute("CREATE TRIGGER audit_mac_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_mac "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only()")
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("last_mac", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    last_seq, last_hash = conn.execute(sa.text("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")).one()
    if not last_seq:
        return
    key = context.config.attributes.get("audit_key")
    if not key:
        raise RuntimeError("sealing the audit chain needs its key: run `sesshu db upgrade` (it reads the key directory)")
    mac = hmac.new(key, b"sesshu-audit-genesis", hashlib.sha256).hexdigest()
    after = 0
    while True:
        rows = conn.execute(sa.text("SELECT seq, entry_hash FROM audit_entry WHERE seq > :a ORDER BY seq LIMIT :n"),
                            {"a": after, "n": _BATCH}).all()
        if not rows:
            break
        out = []
        for seq, entry_hash in rows:
            mac = hmac.new(key, f"{mac}|{entry_hash}".encode(), hashlib.sha256).hexdigest()
            out.append({"seq": seq, "mac": mac})
            after = seq
        conn.execute(sa.text("INSERT INTO audit_mac (seq, mac) VALUES (:seq, :mac)"), out)
    head = hmac.new(key, f"head|{last_seq}|{last_hash}|{mac}".encode(), hashlib.sha256).hexdigest()
    conn.execute(sa.text("UPDATE audit_head SET last_mac = :m WHERE id = 1"), {"m": head})


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_mac_append_only ON audit_mac")
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("last_mac")
    op.drop_table("audit_mac")
    with op.batch_alter_table("staff_user") as batch:
        batch.drop_column("totp_allowed_until")
