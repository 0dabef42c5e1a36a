"""units' webhook secrets sealed with the key ring

A unit's webhook signing secret lets whoever reads it forge deliveries to that unit; it is now
stored sealed (hotline/store/sealed.py: `sealed:v1:<key id>:<AES-256-GCM>`), which needs a wider
column. Secrets already stored in clear are sealed here when a key ring is configured; without
one they stay readable as they are and are sealed the next time they are written.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('units') as b:
        b.alter_column('webhook_secret', existing_type=sa.String(length=128), type_=sa.String(length=512),
                       existing_nullable=True)
    from hotline.runtime.settings import SettingsError, load_codec_keys
    from hotline.store.sealed import is_sealed, seal
    conn = op.get_bind()
    rows = [(code, secret) for code, secret in conn.execute(
        sa.text("SELECT code, webhook_secret FROM units WHERE webhook_secret IS NOT NULL"))
        if not is_sealed(secret)]
    if not rows:
        return
    try:
        ring = load_codec_keys()
    except SettingsError:
        return  # read in clear until written again (a catalogue import or a rotation seals them)
    for code, secret in rows:
        conn.execute(sa.text("UPDATE units SET webhook_secret = :s WHERE code = :c"),
                     {"s": seal(ring, "webhook_secret", secret), "c": code})


def downgrade() -> None:
    # sealed secrets cannot fit the old column: open them first
    from hotline.runtime.settings import load_codec_keys
    from hotline.store.sealed import is_sealed, unseal
    conn = op.get_bind()
    rows = [(code, secret) for code, secret in conn.execute(
        sa.text("SELECT code, webhook_secret FROM units WHERE webhook_secret IS NOT NULL")) if is_sealed(secret)]
    if rows:
        ring = load_codec_keys()
        for code, secret in rows:
            conn.execute(sa.text("UPDATE units SET webhook_secret = :s WHERE code = :c"),
                         {"s": unseal(ring, "webhook_secret", secret), "c": code})
    with op.batch_alter_table('units') as b:
        b.alter_column('webhook_secret', existing_type=sa.String(length=512), type_=sa.String(length=128),
                       existing_nullable=True)
