"""Meme rounds' settings: the `[meme]` section.

Part of the engine state (`EngineConfig.modes["meme"]`), so they are in the
state hash and a replay meters, splits and pays under the settings each
tick had. A view copies its rate and the owner's share when it starts, and a
round copies nothing: the split of a second is decided when it is charged.
Durations are milliseconds of engine time (`ctx.now_ms`) or seconds where
the name says so.
"""

from __future__ import annotations

from attrs import field, frozen

from arena.engine.config import bps, feed_name, non_negative, positive

# The owner's direct share of every charged second may be set within these
# basis points; the pool gets the rest (5,500..6,000).
DIRECT_BPS_MIN = 4_000
DIRECT_BPS_MAX = 4_500


def _direct_bps(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or not DIRECT_BPS_MIN <= value <= DIRECT_BPS_MAX:
        raise ValueError(f"{attribute.name} must be an integer {DIRECT_BPS_MIN}..{DIRECT_BPS_MAX} "
                         f"(basis points), got {value!r}")


def _fee_account(inst, attribute, value):
    if not isinstance(value, str) or not value.startswith("fee:") or not 4 < len(value) <= 64:
        raise ValueError(f"{attribute.name} must be a platform account fee:<name>, got {value!r}")


def _percent(inst, attribute, value):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ValueError(f"{attribute.name} must be an integer 0..100, got {value!r}")


@frozen
class MemeConfig:
    # Base units (satoshis) charged per whole second watched.
    rate_per_s: int = field(default=1, validator=positive)
    # The content owner's direct share of the charges, basis points; the rest
    # goes to the round's pool.
    direct_bps: int = field(default=4_000, validator=_direct_bps)
    # A viewer who sends no `view.beat` for longer than this is stopped.
    beat_timeout_ms: int = field(default=5_000, validator=positive)
    # Owners' direct shares are settled in one batch at least this often (and
    # whenever a view ends), never one transaction per second.
    settle_every_s: int = field(default=60, validator=positive)
    min_deposit: int = field(default=1, validator=positive)
    max_deposit: int = field(default=1_000_000_000_000, validator=positive)
    # A round spans this many blocks of the chain.
    blocks_per_round: int = field(default=3, validator=positive)
    # The data feed answering the chain's height ([feeds.<feed>]; the
    # default "block_height" is a simulated chain unless configured).
    block_feed: str = field(default="block_height", validator=feed_name)
    # The height is asked for this often.
    block_poll_ms: int = field(default=2_000, validator=positive)
    # Sent with the height query (`block_ms`): a simulated chain makes one
    # block per this many ms. A real source (WhatsOnChain) ignores it.
    simulated_block_ms: int = field(default=20_000, validator=positive)
    # A round whose closing block is this late (from the round's start)
    # closes anyway.
    round_fallback_ms: int = field(default=300_000, validator=positive)
    # Content scoring below this quality (0..100) is rejected.
    quality_min: int = field(default=40, validator=_percent)
    # A processing attempt that failed is tried again (new key) after this.
    process_retry_ms: int = field(default=10_000, validator=positive)
    # At most this many ready items are in a round (the newest).
    round_content_max: int = field(default=100, validator=positive)
    # Platform fee on a trade's price, floor; the seller gets the rest.
    market_fee_bps: int = field(default=200, validator=bps)
    # The platform account the trade fee is paid to. A chain ledger pays
    # only its configured fee wallets (`fee:creator|partner|protocol`), so
    # on Solana or BSV name one of those.
    fee_account: str = field(default="fee:meme", validator=_fee_account)
    min_price: int = field(default=1, validator=positive)
    max_price: int = field(default=1_000_000_000_000, validator=positive)
    # A payment whose purpose (deposit or purchase) has not arrived this long
    # after its money goes back whole.
    purpose_wait_ms: int = field(default=60_000, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.min_deposit > self.max_deposit:
            raise ValueError(f"min_deposit ({self.min_deposit}) must not exceed max_deposit ({self.max_deposit})")
        if self.min_price > self.max_price:
            raise ValueError(f"min_price ({self.min_price}) must not exceed max_price ({self.max_price})")
