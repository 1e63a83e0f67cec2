"""Wallet addresses and wallet signatures.

A wallet is a base58-encoded ed25519 public key (a Solana address). Both the
ledger (payments) and the auth code (login) check signatures made by wallet
keys, with these two helpers. Neither ever raises: anything malformed is
simply "not a wallet" / "not a valid signature".
"""

from __future__ import annotations

from solders.pubkey import Pubkey
from solders.signature import Signature

# base58 of 32 bytes is 32..44 characters long.
_MIN_LEN = 32
_MAX_LEN = 44


def _pubkey(s: object) -> Pubkey | None:
    if not isinstance(s, str) or not _MIN_LEN <= len(s) <= _MAX_LEN:
        return None
    try:
        pk = Pubkey.from_string(s)
    except Exception:  # noqa: BLE001 - bad base58 / wrong size
        return None
    # Only the canonical spelling counts, so one key has one account name.
    if str(pk) != s:
        return None
    return pk


def is_wallet(s: object) -> bool:
    """True iff `s` is a str holding a canonical base58 ed25519 public key."""
    return _pubkey(s) is not None


def verify_wallet_signature(wallet: str, message: bytes, signature: bytes) -> bool:
    """True iff `signature` is the 64-byte ed25519 signature of `message` by `wallet`.

    Never raises: a malformed wallet, a signature of the wrong length or type,
    or a non-bytes message all give False.
    """
    pk = _pubkey(wallet)
    if pk is None:
        return False
    if not isinstance(message, (bytes, bytearray, memoryview)):
        return False
    if not isinstance(signature, (bytes, bytearray, memoryview)):
        return False
    try:
        sig_bytes = bytes(signature)
        if len(sig_bytes) != 64:
            return False
        return bool(Signature(sig_bytes).verify(pk, bytes(message)))
    except Exception:  # noqa: BLE001 - never raise on hostile input
        return False
