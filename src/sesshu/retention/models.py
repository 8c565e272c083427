"""Per-person data keys: the 個人番号 of a person is sealed with a key of its own, so destroying that
one row (at erasure) makes every copy of the ciphertext — in the database file, its WAL, a dump —
unreadable (crypto-shredding)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from sesshu.orm import Base


class PersonDataKey(Base):
    __tablename__ = "person_data_key"

    # No foreign key: the key row is written before the person row in bulk imports and is destroyed
    # in the same transaction as the person at erasure.
    atena_no: Mapped[str] = mapped_column(String(15), primary_key=True)
    # The 32-byte key (base64) as AES-GCM ciphertext under the master data key, bound to the 宛名番号;
    # `sesshu keys rotate` re-encrypts it like every other *_enc column.
    key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime)
