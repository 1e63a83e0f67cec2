"""API keys for agents and operators: made, checked, revoked.

A key is `ak_<id>_<secret>`: `id` (12 hex digits) finds its row in the
store's `api_keys`, `secret` (32 random bytes, urlsafe base64) proves it.
The store keeps only SHA-256 of the secret (a random 256-bit secret needs
no slow hash: nothing about it can be guessed), so a copy of the store
cannot log in. A key has a name (unique) and a role: `agent` (a bot that
plays, e.g. a canvas agent) or `operator` (who may send the modes' operator
requests; each one is written to the store's audit log). Keys are shown
once, when `python -m arena keys create` makes them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

ROLES = ("agent", "operator")
NAME = re.compile(r"[A-Za-z0-9_.-]{1,40}")
_KEY = re.compile(r"ak_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key() -> tuple[str, str, str]:
    """(the key to hand out, its id, the hash the store keeps)."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return f"ak_{key_id}_{secret}", key_id, _hash(secret)


class Credentials:
    """Checks keys against a store (`add_api_key`, `api_key`, `revoke_api_key`)."""

    def __init__(self, store) -> None:
        self.store = store

    async def create(self, name: str, role: str) -> str:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        if not NAME.fullmatch(name):
            raise ValueError("name must be 1-40 letters, digits, '_', '.' or '-'")
        key, key_id, hashed = new_key()
        if not await self.store.add_api_key(key_id, name, role, hashed):
            raise ValueError(f"a key named {name!r} exists already (revoke it, or pick another name)")
        return key

    async def check(self, key: str) -> tuple[str, str] | None:
        """(name, role) of a valid, unrevoked key; None otherwise."""
        m = _KEY.fullmatch(key) if isinstance(key, str) else None
        if m is None:
            return None
        row = await self.store.api_key(m.group(1))
        if row is None or row.get("revoked_at") is not None:
            return None
        if not hmac.compare_digest(row["hash"], _hash(m.group(2))):
            return None
        return row["name"], row["role"]
