"""Makes the embedded ledger durable: its book lives in the store.

`DurableLedger` wraps `arena.chain.embedded.EmbeddedLedger`. Every call that
moves money (confirm_entry, confirm_tip, faucet, settle) first runs on the
in-memory book, then writes the new entries to the store and only then
returns: nobody is told "confirmed" or "done" before the entry is durable.

One writer task (`run`) writes in entry-id order, so what is durable is
always a prefix of the book (a later entry that depends on an earlier one,
e.g. a payout out of an escrow just paid into, is never durable without it).
A failed write is retried until the store takes it; callers wait for their
entries, and a caller that goes away leaves nothing undone.

Entry payments and tips also write an *inbox* row in the same transaction:
the input that tells the engine about the money (`EntryFeePaid`, `TipSent`).
Once durable, the wrapper hands that input to the engine itself (`deliver`),
so a caller that hung up meanwhile cannot strand the money; the server drops
the caller's own copy of it (`ServerPersistence.duplicate`). If the server
dies before the engine's journal has the input, recovery feeds it again, so
money that reached an escrow is never forgotten there.

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


# Adapter results that travel through the store's inbox (`inbox_key`).
INBOX_INPUTS = frozenset({I.EntryFeePaid, I.TipSent})


def inbox_key(inp) -> str | None:
    """The inbox key of an adapter result that must reach the engine."""
    if isinstance(inp, I.EntryFeePaid):
        return f"entry:{inp.payment_id}"
    if isinstance(inp, I.TipSent):
        return f"tip:{inp.payment_id}"
    return None


class DurableLedger:
    def __init__(self, inner, store, supervisor=None, deliver=None):
        self.inner = inner
        self.store = store
        self.supervisor = supervisor
        # deliver(input): hand an inbox input to the engine once it is durable,
        # whether or not the caller who paid is still there to do it.
        self.deliver = deliver
        self.name = inner.name
        self._written_entries = 0
        self._written_keys: set[str] = set()
        self._inbox: list[tuple[int, str, bytes, object]] = []  # (seq, key, encoded, input)
        self._inbox_seq = 0  # inbox items queued so far
        self._inbox_written = 0  # inbox items durable so far
        self._wake = trio.Event()
        self._changed = trio.Event()
        self.running = False
        self.stats = {"ledger_writes": 0, "ledger_write_failures": 0}

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
            await self._write_pending()  # a book handed in with entries already

    # --- the writer: one task, in entry-id order, so callers can hang up safely ---
    async def writer(self) -> None:
        """Write whatever the book has that the store has not; forever.

        (Not named `run`: the server starts a ledger's `run(submit)` as the
        chain side task for ledgers whose payments confirm later.)

        Runs as its own task, so a caller that is cancelled (a client that
        hung up) never leaves an entry or an inbox input behind.
        """
        self.running = True
        try:
            while True:
                if not self._dirty():
                    await self._wake.wait()
                    self._wake = trio.Event()
                try:
                    await self._write_pending()
                except Exception as exc:  # noqa: BLE001 - retry until durable
                    self.stats["ledger_write_failures"] += 1
                    if self.supervisor is not None:
                        self.supervisor.record_failure(exc)
                    log.error("ledger write failed; retrying", extra={"error": str(exc)[:200]})
                    await trio.sleep(0.2)
        finally:
            self.running = False

    def _dirty(self) -> bool:
        book = self.inner.book
        return (len(book.entries) > self._written_entries or self._inbox_written < self._inbox_seq
                or len(book.applied_keys) > len(self._written_keys))

    async def _write_pending(self) -> None:
        book = self.inner.book
        n = len(book.entries)
        keys = {e.key for e in book.entries[self._written_entries:n]} - self._written_keys
        if len(book.applied_keys) > len(self._written_keys) + len(keys):
            keys = book.applied_keys - self._written_keys  # keys applied without an entry
        items = list(self._inbox)
        if n == self._written_entries and not keys and not items:
            return
        batch = LedgerBatch(
            entries=[tuple(e) for e in book.entries[self._written_entries:n]],
            keys=sorted(keys),
            inbox=[(k, blob) for _, k, blob, _ in items],
        )
        await self.store.write_ledger(batch)
        self.stats["ledger_writes"] += 1
        if self.supervisor is not None:
            self.supervisor.record_success()
        self._written_entries = n
        self._written_keys |= keys
        del self._inbox[: len(items)]
        if items:
            self._inbox_written = items[-1][0]
            if self.deliver is not None:
                for _, _, _, inp in items:
                    self.deliver(inp)
        self._changed.set()
        self._changed = trio.Event()

    async def _durable(self, inbox_input=None) -> None:
        """Wait until everything the book holds now (and `inbox_input`) is in the store."""
        if inbox_input is not None:
            self._inbox_seq += 1
            self._inbox.append((self._inbox_seq, inbox_key(inbox_input),
                                codec.encode_inputs([inbox_input]), inbox_input))
        need_entries, need_inbox = len(self.inner.book.entries), self._inbox_seq
        if not self.running:  # no writer task (tests, tools): write inline
            while self._written_entries < need_entries or self._inbox_written < need_inbox or self._dirty():
                await self._write_pending()
            return
        while self._written_entries < need_entries or self._inbox_written < need_inbox:
            self._wake.set()
            await self._changed.wait()

    # --- calls that move money: apply, then make durable, then answer ---------------
    # Errors wait for durability too: a "duplicate" must not be answered while
    # the payment it refers to could still be lost.
    async def faucet(self, wallet: str) -> int:
        try:
            balance = await self.inner.faucet(wallet)
        except BaseException:
            await self._durable()
            raise
        await self._durable()
        return balance

    async def confirm_entry(self, wallet, match, amount, tx, signature):
        try:
            res = await self.inner.confirm_entry(wallet, match, amount, tx, signature)
        except BaseException:
            await self._durable()
            raise
        inp = None
        if res.status == "confirmed":
            inp = I.EntryFeePaid(match, wallet, res.amount, res.payment_id)
        await self._durable(inp)
        return res

    async def confirm_tip(self, wallet, tx, signature, *, match: str = ""):
        try:
            res = await self.inner.confirm_tip(wallet, tx, signature)
        except BaseException:
            await self._durable()
            raise
        inp = None
        if res.status == "confirmed":
            inp = I.TipSent(res.from_wallet, res.to_wallet, res.amount, res.fee, res.payment_id, match)
        await self._durable(inp)
        return res

    async def settle(self, settle) -> None:
        try:
            await self.inner.settle(settle)
        except BaseException:
            await self._durable()
            raise
        await self._durable()

    def health(self) -> dict:
        h = dict(self.inner.health())
        h["durable_entries"] = self._written_entries
        h.update(self.stats)
        return h
