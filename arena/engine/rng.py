"""Counter-based randomness for the engine.

The engine may not touch global random state: replaying the journal must give
the same result. Every random draw is therefore a pure function of
(seed, purpose, counter). The seed is stored in the state, the counter is
whatever the caller keeps in its own state (a match number, a round number),
so a snapshot carries everything needed to draw the same numbers again.
"""

from __future__ import annotations

import hashlib


def draw(seed: int, *parts: object) -> int:
    """A 64-bit unsigned integer determined by the seed and the parts."""
    h = hashlib.blake2b(digest_size=8, key=seed.to_bytes(16, "big", signed=False))
    for part in parts:
        h.update(repr(part).encode())
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "big")


def below(seed: int, n: int, *parts: object) -> int:
    """A uniform integer in [0, n). Rejection sampling keeps it unbiased."""
    if n <= 0:
        raise ValueError("n must be positive")
    limit = (1 << 64) - ((1 << 64) % n)
    attempt = 0
    while True:
        x = draw(seed, *parts, attempt)
        if x < limit:
            return x % n
        attempt += 1


def token(seed: int, *parts: object, nbytes: int = 6) -> str:
    """A short hex identifier, e.g. for match ids."""
    h = hashlib.blake2b(digest_size=nbytes, key=seed.to_bytes(16, "big", signed=False))
    h.update(repr(parts).encode())
    return h.hexdigest()
