"""Wallet addresses and wallet signatures, for each kind of wallet Arena takes.

A wallet is named by its address, and the address says its kind:

- **Solana**: a base58-encoded ed25519 public key. It signs the bytes it is
  given with ed25519 (a 64-byte signature). `auth.login`, `auth.siws` and
  every payment on the embedded and Solana ledgers.
- **BSV**: a P2PKH address (base58check of version byte and the public key's
  hash160: `1...` on mainnet, `m...`/`n...` on testnet). It signs with the
  Bitcoin Signed Message format (BSM): a recoverable ECDSA signature over
  `"Bitcoin Signed Message:\\n"` and the text, 65 bytes, base64 on the wire.
  Verified with the BSV SDK (`bsv-sdk`), which recovers the public key and
  compares its address. `auth.bsv` signs the login text; a payment on the
  embedded ledger signs the lowercase hex of the payment's `tx` bytes (BSM
  signs text), and its `signature` field holds the 65 signature bytes.

The two never collide: a Solana address decodes to 32 bytes, a BSV one to
25 bytes with a checksum. A ledger says which kinds it can pay (the Solana
ledger: Solana wallets only). None of these helpers ever raises: anything
malformed is simply "not a wallet" / "not a valid signature".
"""

from __future__ import annotations

import base64
import binascii
import re

from solders.pubkey import Pubkey
from solders.signature import Signature

SOLANA = "solana"
BSV = "bsv"

# base58 of 32 bytes is 32..44 characters long.
_MIN_LEN = 32
_MAX_LEN = 44
# A P2PKH address (the SDK's own pattern): mainnet 1..., testnet m... / n....
_BSV_ADDRESS = re.compile(r"^[1mn][a-km-zA-HJ-NP-Z1-9]{24,33}$")
_BSM_SIGNATURE_BYTES = 65


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


def is_solana_wallet(s: object) -> bool:
    """True iff `s` is a str holding a canonical base58 ed25519 public key."""
    return _pubkey(s) is not None


def is_bsv_address(s: object) -> bool:
    """True iff `s` is a well-formed P2PKH address (checksum included)."""
    if not isinstance(s, str) or not _BSV_ADDRESS.match(s):
        return False
    from bsv.utils import validate_address  # the SDK, only once a BSV address shows up

    return bool(validate_address(s))


def wallet_kind(s: object) -> str | None:
    """SOLANA, BSV, or None when `s` is no wallet's address."""
    if is_solana_wallet(s):
        return SOLANA
    if is_bsv_address(s):
        return BSV
    return None


def is_wallet(s: object) -> bool:
    """True iff `s` is the address of a wallet of any kind Arena takes."""
    return wallet_kind(s) is not None


def verify_bsv_text(address: str, text: str, signature_b64: object) -> bool:
    """True iff `signature_b64` is a Bitcoin Signed Message of `text` by `address`."""
    if not is_bsv_address(address) or not isinstance(text, str) or not isinstance(signature_b64, str):
        return False
    if len(signature_b64) > 100:
        return False
    try:
        if len(base64.b64decode(signature_b64, validate=True)) != _BSM_SIGNATURE_BYTES:
            return False
        from bsv.keys import verify_signed_text

        return bool(verify_signed_text(text, address, signature_b64))
    except (binascii.Error, ValueError):
        return False
    except Exception:  # noqa: BLE001 - never raise on hostile input
        return False


def verify_wallet_signature(wallet: str, message: bytes, signature: bytes) -> bool:
    """True iff `signature` is `wallet`'s signature of `message` (its kind's scheme).

    Never raises: a malformed wallet, a signature of the wrong length or type,
    or a non-bytes message all give False.
    """
    if not isinstance(message, (bytes, bytearray, memoryview)):
        return False
    if not isinstance(signature, (bytes, bytearray, memoryview)):
        return False
    pk = _pubkey(wallet)
    if pk is None:
        if len(signature) != _BSM_SIGNATURE_BYTES:
            return False
        return verify_bsv_text(wallet, bytes(message).hex(), base64.b64encode(bytes(signature)).decode())
    try:
        sig_bytes = bytes(signature)
        if len(sig_bytes) != 64:
            return False
        return bool(Signature(sig_bytes).verify(pk, bytes(message)))
    except Exception:  # noqa: BLE001 - never raise on hostile input
        return False
