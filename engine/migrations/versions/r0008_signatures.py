"""Signing certificates and signed documents.

Each signer's PKCS#12 file (kept as uploaded, passphrase-encrypted) and every signed line of a
case document's cuadro de firmas.

Revision ID: r0008
Revises: r0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "r0008"
down_revision: str | None = "r0007"
branch_labels = None
depends_on = None

# engine.store.UtcDateTime as each backend stores it (frozen here: the model may change later).
UTC_DATETIME = sa.BigInteger().with_variant(sa.DateTime(timezone=True), "postgresql")


def upgrade() -> None:
    """Add the signing certificate and document signature tables."""
    op.create_table(
        "signing_certificate",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("p12", sa.LargeBinary(), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("serial", sa.String(length=100), nullable=False),
        sa.Column("not_after", UTC_DATETIME, nullable=False),
        sa.Column("uploaded_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "document_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("signed_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["sha256"], ["document.sha256"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "kind", "revision", "slot"),
    )
    op.create_index(op.f("ix_document_signature_case_id"), "document_signature", ["case_id"],
                    unique=False)


def downgrade() -> None:
    """Drop the signature tables."""
    op.drop_index(op.f("ix_document_signature_case_id"), table_name="document_signature")
    op.drop_table("document_signature")
    op.drop_table("signing_certificate")
