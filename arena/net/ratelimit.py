"""Token buckets for per-session rate limits.

The clock is passed in (seconds, monotonic), so the bucket is a pure value
that tests can drive without sleeping.
"""

from __future__ import annotations


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, now: float):
        self.rate = float(rate)
        self.burst = float(burst)
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float, cost: float = 1.0) -> int:
        """Spend `cost` tokens; return 0 if allowed, else ms to wait before retrying."""
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0
        missing = cost - self.tokens
        return max(1, int(missing / self.rate * 1000) + 1) if self.rate > 0 else 60_000


class SlidingCounter:
    """Counts events within the last `window` seconds (for bad-frame abuse)."""

    __slots__ = ("window", "stamps")

    def __init__(self, window: float):
        self.window = window
        self.stamps: list[float] = []

    def add(self, now: float) -> int:
        cutoff = now - self.window
        self.stamps = [t for t in self.stamps if t > cutoff]
        self.stamps.append(now)
        return len(self.stamps)
