"""API keys: ``chk_<key id>_<secret>``. The key id (12 hex digits) is public: it is shown in
listings and logs, for support. The secret (32 random bytes) is shown once, when the key is
made, and stored only as SHA-256 of a per-key salt and the secret.

Why a fast hash is enough here: a slow password hash (argon2, scrypt) makes guessing a
*low-entropy* secret (a password a person chose) expensive. These secrets are 256 random bits,
so nobody who steals the table can guess one however fast the hash is (2^255 tries on
average), while a slow hash would cost every request milliseconds. The salt keeps two keys'
digests unrelated; the comparison is constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from cityhub.store.access import ApiKeyRecord

PREFIX = "chk_"
_KEY = re.compile(r"chk_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})")


def digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("ascii")).hexdigest()


def new_key(
    tenant: str, name: str, *, admin: bool, created_at: str, expires_at: str | None
) -> tuple[str, ApiKeyRecord]:
    """A fresh key: the text to hand over (once) and the record to store."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    record = ApiKeyRecord(
        key_id=key_id,
        tenant=tenant,
        name=name,
        admin=admin,
        salt=salt,
        digest=digest(salt, secret),
        created_at=created_at,
        expires_at=expires_at,
    )
    return f"{PREFIX}{key_id}_{secret}", record


def parse_key(text: str) -> tuple[str, str] | None:
    """(key id, secret) of a key's text, or None when it is not shaped like one."""
    match = _KEY.fullmatch(text)
    return (match.group(1), match.group(2)) if match else None


def verify(record: ApiKeyRecord, secret: str) -> bool:
    """Whether ``secret`` is the key's secret (constant time)."""
    return hmac.compare_digest(digest(record.salt, secret), record.digest)


def looks_like_key(text: str) -> bool:
    return text.startswith(PREFIX)


__all__ = ["PREFIX", "digest", "looks_like_key", "new_key", "parse_key", "verify"]
