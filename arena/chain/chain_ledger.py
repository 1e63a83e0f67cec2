"""What the two chain ledgers (Solana, BSV) share, beyond their chains.

Both build payments a player signs later, record what they send before
sending it, follow payments that confirm after their confirm call answered,
and announce those to the engine exactly once; both settle each key at most
once under a lock of its own. `ChainLedgerBase` holds that common part; a
subclass provides the chain: `_check_open(payments, announce=)` and the
exceptions that mean "the chain is unreachable right now"
(`UNAVAILABLE`), and sets up the attributes named in `_init_common`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable

import trio

from arena.engine import errors
from arena.engine import inputs as I
from arena.engine.errors import ArenaError

def bad_request(msg: str) -> ArenaError:
    return ArenaError(errors.BAD_REQUEST, msg)


def payment_failed(msg: str) -> ArenaError:
    return ArenaError(errors.PAYMENT_FAILED, msg)


# How long a payment confirmed to a confirm_* caller may stay unacknowledged
# before the chain watcher announces it itself (the caller's announcement failed).
ACK_WAIT_S = 30.0


class HiddenKey:
    """A private key held so that it cannot leak: its repr and str show only
    the public side (`public`), and it refuses to be pickled (into a crash
    dump, a queue ...). Subclasses keep the secret in a slot of their own."""

    __slots__ = ()

    def public(self) -> object:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.public()})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class ChainLedgerBase:
    """Built payments, announcements and settlement locks (see the module docstring)."""

    UNAVAILABLE: tuple[type[Exception], ...] = ()
    DOWN_STATE = "chain_down"  # `state` while the chain's API is unreachable
    log = logging.getLogger("arena.chain")

    def _init_common(self, *, build_ttl_s: float, max_pending: int, max_pending_per_wallet: int,
                     poll_s: float, clock: Callable[[], float]) -> None:
        self.build_ttl_s = build_ttl_s
        self.max_pending = max_pending
        self.max_pending_per_wallet = max_pending_per_wallet
        self.poll_s = poll_s
        self.clock = clock
        # digest/hash of a built message -> what was built; insertion order = age.
        self._built: dict = {}
        self._built_per_wallet: dict[str, int] = {}
        self._open: dict = {}          # submitted payments not yet resolved, by id
        self._waiting: set[str] = set()  # payment ids a confirm_* call is following itself
        self._last_sent: dict[str, float] = {}  # payment / attempt id -> when last (re)broadcast
        self._settle_locks: dict[str, trio.Lock] = {}
        self._submit: Callable[[object], object] | None = None
        # Payments that landed under a confirm_* call, waiting for their caller's
        # `acknowledge` (id -> when): the watcher announces them itself if no
        # acknowledgement comes within ACK_WAIT_S (the caller failed).
        self._unacked: dict[str, float] = {}

    # --- built payments ------------------------------------------------------------------
    def payment_ref(self, tx: bytes) -> bytes:
        """`Ledger.payment_ref`: the built bytes (the wallet signs them as they are)."""
        return bytes(tx)

    def _prune(self, now: float) -> None:
        while self._built:
            h, b = next(iter(self._built.items()))
            if b.expires > now and len(self._built) < self.max_pending:
                break
            self._forget(h)

    def _forget(self, h: str):
        b = self._built.pop(h, None)
        if b is not None:
            n = self._built_per_wallet.get(b.wallet, 0) - 1
            if n > 0:
                self._built_per_wallet[b.wallet] = n
            else:
                self._built_per_wallet.pop(b.wallet, None)
            self._forgotten(h, b)
        return b

    def _forgotten(self, h: str, built) -> None:
        """A built payment was dropped (confirmed, expired, pruned): release what it held."""

    def _remember(self, h: str, b) -> None:
        self._built[h] = b
        self._built_per_wallet[b.wallet] = self._built_per_wallet.get(b.wallet, 0) + 1

    def _check_build_room(self, wallet: str) -> None:
        self._prune(self.clock())
        if self._built_per_wallet.get(wallet, 0) >= self.max_pending_per_wallet:
            raise ArenaError(errors.RATE_LIMITED, "too many unconfirmed payments; confirm or let them expire",
                             retry_after_ms=int(self.build_ttl_s * 1000))

    # --- announcements ----------------------------------------------------------------------
    async def acknowledge(self, payment_id: str) -> None:
        """The caller of a confirm_* call that answered "confirmed" has announced
        the payment (durably): the watcher need not."""
        self._unacked.pop(payment_id, None)
        await trio.to_thread.run_sync(self.store.mark_announced, payment_id)

    async def _announce(self, p) -> None:
        if self._submit is None:
            return  # announced when `run` starts (the store says it is not yet)
        if p.kind == "entry":
            inp = I.EntryFeePaid(p.match, p.wallet, p.amount, p.sig)
        else:
            inp = I.TipSent(p.wallet, p.to_wallet, p.amount, p.fee, p.sig)
        done = self._submit(inp)
        if inspect.isawaitable(done):
            await done  # e.g. the server's durable announcement (the store's inbox)
        self._unacked.pop(p.sig, None)
        await trio.to_thread.run_sync(self.store.mark_announced, p.sig)
        self.log.info("payment announced by the chain watcher", extra={"kind": p.kind, "sig": p.sig})

    async def _announce_unacknowledged(self, wait_s: float = ACK_WAIT_S) -> None:
        """Confirmed to a caller that never acknowledged them within `wait_s` (it
        failed to announce, e.g. its store was down): announce them here."""
        now = self.clock()
        late = {sig for sig, at in self._unacked.items() if now - at >= wait_s}
        if not late:
            return
        for p in await trio.to_thread.run_sync(self.store.unannounced):
            if p.sig in late:
                await self._announce(p)
        for sig in late:  # announced meanwhile by another path: nothing left to watch
            self._unacked.pop(sig, None)

    async def _follow(self, p, timeout: float) -> str:
        """Poll one open payment for up to `timeout`: landed | failed | expired | pending.

        `timeout <= 0` answers pending at once (the reply never waits for the chain)."""
        if timeout <= 0:
            return "pending"
        deadline = self.clock() + timeout
        while True:
            try:
                outcome = await self._check_open([p], announce=False)
            except self.UNAVAILABLE:
                outcome = {}
            o = outcome.get(p.sig, "pending")
            if o != "pending" or self.clock() >= deadline:
                return o
            await trio.sleep(self.poll_s)

    async def _resolve(self, p, state: str, detail: str = "", *, announce: bool = False) -> None:
        """Close an open payment. Exactly one caller wins (the in-memory check is synchronous)."""
        if self._open.pop(p.sig, None) is None:
            return
        self._last_sent.pop(p.sig, None)
        if state != "landed":
            self._never_lands(p)
        p.state, p.detail = state, detail
        # A payment landed under a confirm_* call is announced by its caller
        # (the gateway, on "confirmed"), which then calls `acknowledge`; one
        # landed under `run` is announced here. Either way the record says
        # "announced" only once the engine's side has it durably.
        await trio.to_thread.run_sync(self.store.resolve_payment, p.sig, state, detail, False)
        if state == "landed" and announce:
            self.stats["landed_later"] += 1
            await self._announce(p)
        elif state == "landed":
            self._unacked[p.sig] = self.clock()

    def _never_lands(self, p) -> None:
        """Payment `p` failed or expired: release whatever it held."""

    async def _follow_forever(self, ack_wait_s: float = ACK_WAIT_S) -> None:
        """The chain watcher's loop (under `run`): announce what a crash left
        unannounced, then follow open payments and sweep unacknowledged ones."""
        await self._ready()
        for p in await trio.to_thread.run_sync(self.store.unannounced):
            await self._announce(p)
        last_sweep = self.clock()
        while True:
            if self._unacked and self.clock() - last_sweep >= ack_wait_s / 2:
                last_sweep = self.clock()
                await self._announce_unacknowledged(ack_wait_s)
            batch = [p for s, p in list(self._open.items()) if s not in self._waiting]
            if batch:
                try:
                    await self._check_open(batch, announce=True)
                    self.state = "active"
                except self.UNAVAILABLE as exc:
                    self.state, self.last_error = self.DOWN_STATE, str(exc)
                    self.log.warning("chain watch: API unavailable", extra={"error": str(exc)[:200]})
            self._wake = trio.Event()
            with trio.move_on_after(max(self.poll_s * 2, 0.1)):
                await self._wake.wait()

    async def wait_payment(self, payment_id: str, timeout: float = 60.0) -> str:
        """Wait until a payment is no longer pending: its state (landed | failed | expired)."""
        with trio.fail_after(timeout):
            while True:
                p = self._open.get(payment_id)
                if p is None:
                    rec = await trio.to_thread.run_sync(self.store.payment, payment_id)
                    if rec is None:
                        raise KeyError(payment_id)
                    if rec.state != "submitted":
                        return rec.state
                elif payment_id not in self._waiting:
                    try:
                        await self._check_open([p], announce=True)
                    except self.UNAVAILABLE:
                        pass
                await trio.sleep(self.poll_s)

    # --- settlements ---------------------------------------------------------------------------
    def _escrow_payouts(self, settle, owner_of) -> tuple[dict[str, int], list[tuple[object, int]], list]:
        """Check `settle`'s transfers: integer amounts >= 0, out of `escrow:<match>`
        accounts only, to a `fee:` account or a wallet `owner_of(dest)` names
        (None: not one this chain pays). Returns (debits per match, (owner,
        amount) for every non-zero transfer, all transfers as records)."""
        debits: dict[str, int] = {}
        payouts: list[tuple[object, int]] = []
        records = []
        for t in settle.transfers:
            src, dst, amount = t.source, t.dest, t.amount
            if type(amount) is not int or amount < 0:
                raise bad_request(f"settle {settle.key}: bad amount {amount!r}")
            if not isinstance(src, str) or not src.startswith("escrow:") or len(src) <= len("escrow:"):
                raise bad_request(f"settle {settle.key}: the {self.name} ledger pays out of escrow "
                                  f"accounts only, not {src!r}")
            if not isinstance(dst, str):
                raise bad_request(f"settle {settle.key}: bad account {dst!r}")
            if dst.startswith("fee:"):
                owner = self.fee_wallets.get(dst[4:])
                if owner is None:
                    raise bad_request(f"settle {settle.key}: no such fee account {dst!r}")
            else:
                owner = owner_of(dst)
                if owner is None:
                    raise bad_request(f"settle {settle.key}: cannot pay to {dst!r}")
            records.append([src, dst, amount])
            if amount == 0:
                continue
            m = src[len("escrow:"):]
            debits[m] = debits.get(m, 0) + amount
            payouts.append((owner, amount))
        return debits, payouts, records

    async def _settle_under_key_lock(self, settle, settle_locked) -> None:
        """Run `settle_locked(settle)` holding `settle.key`'s lock: one attempt per key at a time."""
        key = settle.key
        lock = self._settle_locks.setdefault(key, trio.Lock())
        try:
            async with lock:
                await settle_locked(settle)
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._settle_locks.pop(key, None)

    async def settlement_receipt(self, key: str) -> dict | None:
        """What became of settlement `key`: its state in the record store and
        the id of the chain transaction that carried it ("done": landed).
        None if this ledger never saw the key."""
        row = await trio.to_thread.run_sync(self.store.settlement, key)
        if row is None:
            return None
        return {"ledger": self.name, "status": row.state, "signature": row.sig}
