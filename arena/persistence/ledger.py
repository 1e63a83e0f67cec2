"""Makes the embedded ledger durable: its book lives in the store.

`DurableLedger` wraps `arena.chain.embedded.EmbeddedLedger`. Every call that
moves money (confirm_entry, confirm_tip, faucet, settle) first runs on the
in-memory book, then writes the new entries to the store and only then
returns: nobody is told "confirmed" or "done" before the entry is durable.

Writes go through one lock in entry-id order, so what is durable is always a
prefix of the book (a later entry that depends on an earlier one, e.g. a
payout out of an escrow just paid into, is never durable without it). A
failed write is retried until the store takes it; the caller waits.

Entry payments and tips also write an *inbox* row in the same transaction:
the input that tells the engine about the money (`EntryFeePaid`, `TipSent`).
If the server dies before the engine's journal has that input, recovery
feeds it again, so money that reached an escrow is never forgotten there.

On start, `restore` rebuilds the book from the store's entries
(`LedgerBook.from_entries`), or writes the entries of a book that already has
some into an empty store.
"""

from __future__ import annotations

import logging

import trio

from arena.chain.embedded import LedgerBook
from arena.engine import inputs as I

from . import codec
from .store import LedgerBatch

log = logging.getLogger("arena.persistence")


def inbox_key(inp) -> str | None:
    """The inbox key of an adapter result that must reach the engine."""
    if isinstance(inp, I.EntryFeePaid):
        return f"entry:{inp.payment_id}"
    if isinstance(inp, I.TipSent):
        return f"tip:{inp.payment_id}"
    return None


class DurableLedger:
    def __init__(self, inner, store, supervisor=None):
        self.inner = inner
        self.store = store
        self.supervisor = supervisor
        self.name = inner.name
        self._lock = trio.Lock()
        self._written_entries = 0
        self._written_keys: set[str] = set()
        self._inbox: list[tuple[str, bytes]] = []

    def __getattr__(self, name):  # everything that does not move money
        return getattr(self.inner, name)

    @property
    def book(self) -> LedgerBook:
        return self.inner.book

    async def restore(self) -> None:
        entries, keys = await self.store.ledger_entries()
        if entries or keys:
            self.inner.book = LedgerBook.from_entries(entries, keys)
            self._written_entries = len(self.inner.book.entries)
            self._written_keys = set(self.inner.book.applied_keys)
            log.info("ledger restored", extra={"entries": len(entries), "accounts": len(self.inner.book.balances)})
        else:
            await self._persist()  # a book handed in with entries already

    async def _persist(self, inbox_input=None) -> None:
        if inbox_input is not None:
            self._inbox.append((inbox_key(inbox_input), codec.encode_inputs([inbox_input])))
        async with self._lock:
            book = self.inner.book
            n = len(book.entries)
            keys = {e.key for e in book.entries[self._written_entries:n]} - self._written_keys
            if len(book.applied_keys) > len(self._written_keys) + len(keys):
                keys = book.applied_keys - self._written_keys  # keys applied without an entry
            if n == self._written_entries and not keys and not self._inbox:
                return  # someone else wrote ours already
            batch = LedgerBatch(
                entries=[tuple(e) for e in book.entries[self._written_entries:n]],
                keys=sorted(keys),
                inbox=list(self._inbox),
            )
            delay = 0.05
            while True:
                try:
                    await self.store.write_ledger(batch)
                    break
                except Exception as exc:  # noqa: BLE001 - retry until durable
                    if self.supervisor is not None:
                        self.supervisor.record_failure(exc)
                    log.error("ledger write failed; retrying", extra={"error": str(exc)[:200]})
                    await trio.sleep(delay)
                    delay = min(delay * 2, 5.0)
            if self.supervisor is not None:
                self.supervisor.record_success()
            self._written_entries = n
            self._written_keys |= keys
            del self._inbox[: len(batch.inbox)]

    # --- calls that move money: apply, then make durable, then answer ---------------
    async def faucet(self, wallet: str) -> int:
        balance = await self.inner.faucet(wallet)
        await self._persist()
        return balance

    async def confirm_entry(self, wallet, match, amount, tx, signature):
        res = await self.inner.confirm_entry(wallet, match, amount, tx, signature)
        inp = None
        if res.status == "confirmed":
            inp = I.EntryFeePaid(match, wallet, res.amount, res.payment_id)
        await self._persist(inp)
        return res

    async def confirm_tip(self, wallet, tx, signature):
        res = await self.inner.confirm_tip(wallet, tx, signature)
        inp = None
        if res.status == "confirmed":
            inp = I.TipSent(res.from_wallet, res.to_wallet, res.amount, res.fee, res.payment_id)
        await self._persist(inp)
        return res

    async def settle(self, settle) -> None:
        await self.inner.settle(settle)
        await self._persist()

    def health(self) -> dict:
        h = dict(self.inner.health())
        h["durable_entries"] = self._written_entries
        return h
