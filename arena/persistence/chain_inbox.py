"""Payments a chain confirms reach the engine through the store's inbox.

A chain ledger (Solana) keeps its own books, but the engine only learns of a
payment through an input (`EntryFeePaid`, `TipSent`). Handing that input to
the engine straight from memory loses it if the process dies before the tick
holding it is durable: the fee would sit in escrow with no battle knowing.
So every confirmation goes through `ServerPersistence.announce` first (an
inbox row, then the engine; recovery feeds rows the engine never consumed),
and only then is the payment acknowledged to the chain ledger, which
announces unacknowledged payments itself (its `run` side task, also through
`announce`). The inbox row decides: one announcement of a payment reaches
the engine, however many are made.
"""

from __future__ import annotations

import logging

import attrs

from arena.engine import inputs as I

log = logging.getLogger("arena.persistence.chain_inbox")


class ChainAnnouncements:
    """Wraps a chain ledger: `confirm_entry`/`confirm_tip` announce durably
    before they answer "confirmed"; everything else is the inner ledger's."""

    def __init__(self, inner, announce):
        self.inner = inner
        self._announce = announce  # async (input) -> None: ServerPersistence.announce

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def confirm_entry(self, wallet, match, amount, tx, signature):
        res = await self.inner.confirm_entry(wallet, match, amount, tx, signature)
        if res.status == "confirmed":
            inp = I.EntryFeePaid(match, wallet, res.amount, res.payment_id)
            if not await self._durably(inp, res.payment_id):
                res = attrs.evolve(res, status="pending")
        return res

    async def confirm_tip(self, wallet, tx, signature, *, match: str = ""):
        res = await self.inner.confirm_tip(wallet, tx, signature)
        if res.status == "confirmed":
            inp = I.TipSent(res.from_wallet, res.to_wallet, res.amount, res.fee, res.payment_id, match)
            if not await self._durably(inp, res.payment_id):
                res = attrs.evolve(res, status="pending")
        return res

    async def _durably(self, inp, payment_id: str) -> bool:
        """Announce, then acknowledge. False if the store could not take it: the
        caller then answers "pending" (never "confirmed", after which the gateway
        would hand the input to the engine itself, outside the inbox), and the
        chain watcher announces the payment once the store is back."""
        try:
            await self._announce(inp)
        except Exception as exc:  # noqa: BLE001 - the watcher retries; the client hears "pending"
            log.warning("payment landed but could not be announced yet; the chain watcher will",
                        extra={"payment": payment_id, "error": str(exc)[:200]})
            return False
        acknowledge = getattr(self.inner, "acknowledge", None)
        if acknowledge is not None:
            await acknowledge(payment_id)
        return True
