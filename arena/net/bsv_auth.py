"""Login with a BSV wallet (`auth.bsv`): a Bitcoin Signed Message over the
login nonce, verified with `bsv-sdk`.

The wallet signs the text `"arena:login:" + nonce` the way every Bitcoin
wallet signs messages (the "Bitcoin Signed Message:\\n" prefix, double
SHA-256, a compact recoverable ECDSA signature in base64); the server
recovers the public key from the signature and checks that it hashes to
the claimed P2PKH address (`bsv.verify_signed_text`). The address is then
the session's wallet.
"""

from __future__ import annotations

import re

# A P2PKH address in base58check: mainnet "1...", testnet "m..." / "n...".
ADDRESS = re.compile(r"^[1mn][1-9A-HJ-NP-Za-km-z]{24,34}$")
SIGNATURE_CHARS = 88  # 65 bytes in base64


def is_address(address: str) -> bool:
    return bool(ADDRESS.match(address))


def verify(address: str, nonce: str, signature: str) -> bool:
    """Does `signature` (base64) sign `"arena:login:" + nonce` by `address`?
    False for anything malformed: a signature is never trusted to parse."""
    if not is_address(address) or len(signature) != SIGNATURE_CHARS:
        return False
    from bsv import verify_signed_text

    try:
        return bool(verify_signed_text("arena:login:" + nonce, address, signature))
    except Exception:  # noqa: BLE001 - bad base64, an invalid point, a bad recovery id
        return False
