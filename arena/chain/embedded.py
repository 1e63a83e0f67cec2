"""The embedded ledger: an in-process stand-in for the chain. No real tokens.

`EmbeddedLedger` is the default ledger of Arena. It needs nothing installed
and keeps every balance in this process's memory. The money it holds is
play money: it is not connected to Solana or any other chain, nothing it
records is worth anything, and its faucet prints balances out of thin air.
Use it for development, tests, demos and load tests; production runs the
Solana ledger behind the same port (`arena.chain.port.Ledger`), chosen in
`config.toml`.

It behaves like the real thing where the server can tell the difference:

- Players sign payments with their own ed25519 wallet keys. `build_entry` /
  `build_tip` return canonical MessagePack bytes describing the payment; the
  player signs them; `confirm_*` checks the signature against the paying
  wallet and carries the payment out exactly once (a second confirm of the
  same tx gets `duplicate`). Only txs this ledger built, and not yet expired,
  can be confirmed.
- Settlements (`settle`) are atomic and idempotent per key.

The bookkeeping is a double-entry ledger, `LedgerBook`: every movement of
money is an entry that debits one account (the money leaves it) and credits
another (the money arrives there). Accounts named `mint:*` (the faucet's
`mint:faucet`) are where play money comes from and may go negative; no other
account may. So the sum of all balances, mint accounts included, is always 0,
and the book can be rebuilt from its entries alone (`LedgerBook.from_entries`),
which is the hook for persisting it later.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

import msgpack

from arena.chain.keys import is_wallet, verify_wallet_signature
from arena.chain.port import PaymentResult, TipResult, check_tip_args
from arena.engine import errors
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle

MINT_PREFIX = "mint:"
FAUCET_MINT = "mint:faucet"
PROTOCOL_FEE_ACCOUNT = "fee:protocol"

TX_VERSION = 1
MAX_TX_BYTES = 1024
MAX_MATCH_LEN = 128
FAUCET_CAP_MULTIPLE = 10


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _is_int(x: object) -> bool:
    return type(x) is int


# --------------------------------------------------------------------------
# The book: pure, synchronous double-entry bookkeeping.
# --------------------------------------------------------------------------


class Entry(NamedTuple):
    """One movement: `amount` leaves `debit` and arrives at `credit`.

    All entries written by one `LedgerBook.apply` call share its `key` and are
    consecutive in the book.
    """

    entry_id: int
    key: str
    debit: str
    credit: str
    amount: int


class LedgerCorrupt(Exception):
    """The book's invariants do not hold (a bug, or bad persisted entries)."""


class LedgerBook:
    """Balances as a list of double-entry entries, applied atomically per key.

    - `apply(key, transfers)` carries out all transfers or none, at most once
      per `key` (a repeat returns False and changes nothing).
    - Only `mint:*` accounts may go negative; a batch that would leave any
      other account negative at any step is refused with
      `ArenaError("insufficient_funds")` and changes nothing.
    - Zero-amount transfers are skipped (they write no entry).

    `entries`, `balances` and `applied_keys` are public for persistence and
    audits; change them only through `apply`.
    """

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.balances: dict[str, int] = {}
        self.applied_keys: set[str] = set()

    @staticmethod
    def is_mint(account: str) -> bool:
        return account.startswith(MINT_PREFIX)

    @property
    def next_entry_id(self) -> int:
        return len(self.entries)

    def balance(self, account: str) -> int:
        return self.balances.get(account, 0)

    def is_applied(self, key: str) -> bool:
        return key in self.applied_keys

    def total(self) -> int:
        """Sum of all balances, mint accounts included: always 0."""
        return sum(self.balances.values())

    def apply(self, key: str, transfers: Iterable[tuple[str, str, int]]) -> bool:
        """Carry out `transfers` (source, dest, amount) atomically under `key`.

        Returns True if applied, False if `key` was already applied (no-op).
        Raises `ArenaError("bad_request")` for a malformed transfer and
        `ArenaError("insufficient_funds")` for an overdraft; either way
        nothing changes and `key` stays unused.
        """
        if not isinstance(key, str) or not key:
            raise ArenaError(errors.BAD_REQUEST, "idempotency key must be a non-empty string")
        if key in self.applied_keys:
            return False
        moves: list[tuple[str, str, int]] = []
        for t in transfers:
            try:
                src, dst, amount = t
            except (TypeError, ValueError) as e:
                raise ArenaError(errors.BAD_REQUEST, f"bad transfer {t!r}") from e
            if not isinstance(src, str) or not src or not isinstance(dst, str) or not dst:
                raise ArenaError(errors.BAD_REQUEST, "account names must be non-empty strings")
            if not _is_int(amount) or amount < 0:
                raise ArenaError(errors.BAD_REQUEST, f"bad amount {amount!r}")
            if amount == 0:
                continue
            if src == dst:
                raise ArenaError(errors.BAD_REQUEST, f"transfer from {src} to itself")
            moves.append((src, dst, amount))
        # Dry run on the touched accounts, step by step: no intermediate
        # overdraft either, so the entries are valid in the order written.
        trial: dict[str, int] = {}
        for src, dst, amount in moves:
            after = trial.get(src, self.balance(src)) - amount
            if after < 0 and not self.is_mint(src):
                raise ArenaError(
                    errors.INSUFFICIENT_FUNDS,
                    f"{src} has {trial.get(src, self.balance(src))}, needs {amount}",
                )
            trial[src] = after
            trial[dst] = trial.get(dst, self.balance(dst)) + amount
        # Commit: nothing below can fail.
        for src, dst, amount in moves:
            self.entries.append(Entry(len(self.entries), key, src, dst, amount))
        self.balances.update(trial)
        self.applied_keys.add(key)
        return True

    def audit(self) -> None:
        """Check the invariants; raise `LedgerCorrupt` if one fails."""
        if self.total() != 0:
            raise LedgerCorrupt(f"balances sum to {self.total()}, not 0")
        for acct, bal in self.balances.items():
            if bal < 0 and not self.is_mint(acct):
                raise LedgerCorrupt(f"{acct} is negative: {bal}")
        rebuilt = LedgerBook.from_entries(self.entries, self.applied_keys)
        if {a: b for a, b in rebuilt.balances.items() if b} != {
            a: b for a, b in self.balances.items() if b
        }:
            raise LedgerCorrupt("balances differ from the entries")

    @classmethod
    def from_entries(
        cls, entries: Iterable[Entry | tuple], applied_keys: Iterable[str] = ()
    ) -> LedgerBook:
        """Rebuild a book by re-applying `entries` in order.

        `applied_keys` adds keys that were applied without writing any entry
        (a settlement whose transfers were all zero). Raises `LedgerCorrupt`
        if the entries are out of order, reuse a key in two separate batches,
        or break a balance rule.
        """
        book = cls()
        batch_key: str | None = None
        batch: list[tuple[str, str, int]] = []

        def flush() -> None:
            if batch_key is None:
                return
            if batch_key in book.applied_keys:
                raise LedgerCorrupt(f"key {batch_key!r} applied twice")
            start = len(book.entries)
            try:
                book.apply(batch_key, batch)
            except ArenaError as e:
                raise LedgerCorrupt(f"entry batch {batch_key!r}: {e.message}") from e
            if len(book.entries) - start != len(batch):
                raise LedgerCorrupt(f"entry batch {batch_key!r} holds zero-amount entries")

        for expected_id, raw in enumerate(entries):
            e = Entry(*raw)
            if e.entry_id != expected_id:
                raise LedgerCorrupt(f"entry {e.entry_id} where {expected_id} expected")
            if e.key != batch_key:
                flush()
                batch_key, batch = e.key, []
            batch.append((e.debit, e.credit, e.amount))
        flush()
        book.applied_keys.update(applied_keys)
        return book


# --------------------------------------------------------------------------
# Payment messages (what players sign).
# --------------------------------------------------------------------------


def pack_tx(body: dict) -> bytes:
    """Canonical MessagePack: a map with sorted string keys, ints minimal."""
    return msgpack.packb({k: body[k] for k in sorted(body)}, use_bin_type=True)


def payment_id(tx: bytes) -> str:
    return hashlib.blake2b(tx, digest_size=32).hexdigest()


_TX_FIELDS = {
    "entry": frozenset({"v", "kind", "from", "to", "amount", "match", "nonce", "expires_ms"}),
    "tip": frozenset({"v", "kind", "from", "to", "amount", "fee", "nonce", "expires_ms"}),
}


def _bad(msg: str) -> ArenaError:
    return ArenaError(errors.BAD_REQUEST, msg)


def decode_tx(tx: object) -> dict:
    """Parse and validate a payment message; `bad_request` if malformed."""
    if not isinstance(tx, (bytes, bytearray)):
        raise _bad("tx must be bytes")
    tx = bytes(tx)
    if not tx or len(tx) > MAX_TX_BYTES:
        raise _bad("tx has a bad size")
    try:
        body = msgpack.unpackb(tx, raw=False, strict_map_key=True)
    except Exception as e:  # noqa: BLE001 - any decoder error means malformed
        raise _bad("tx is not valid MessagePack") from e
    if not isinstance(body, dict) or not all(isinstance(k, str) for k in body):
        raise _bad("tx is not a map")
    kind = body.get("kind")
    if kind not in _TX_FIELDS or set(body) != _TX_FIELDS[kind]:
        raise _bad("tx has unknown kind or fields")
    if body["v"] != TX_VERSION or not _is_int(body["v"]):
        raise _bad("tx has an unsupported version")
    for f in ("from", "to", "nonce"):
        if not isinstance(body[f], str):
            raise _bad(f"tx field {f} must be a string")
    if not _is_int(body["amount"]) or body["amount"] <= 0:
        raise _bad("tx amount must be a positive integer")
    if not _is_int(body["expires_ms"]):
        raise _bad("tx expires_ms must be an integer")
    if not is_wallet(body["from"]):
        raise _bad("tx payer is not a wallet")
    if kind == "entry":
        if not isinstance(body["match"], str) or body["to"] != f"escrow:{body['match']}":
            raise _bad("entry tx does not pay into its match's escrow")
    else:
        if not is_wallet(body["to"]) or body["to"] == body["from"]:
            raise _bad("tip tx has a bad recipient")
        if not _is_int(body["fee"]) or not 0 <= body["fee"] <= body["amount"]:
            raise _bad("tip tx has a bad fee")
    try:
        canonical = pack_tx(body)
    except Exception as e:  # noqa: BLE001
        raise _bad("tx cannot be re-encoded") from e
    if canonical != tx:
        raise _bad("tx is not canonically encoded")
    return body


class _Pending(NamedTuple):
    tx: bytes
    wallet: str
    expires_ms: int


# --------------------------------------------------------------------------
# The port implementation.
# --------------------------------------------------------------------------


class EmbeddedLedger:
    """The embedded stand-in for the chain: play money held in this process.

    No real tokens: balances live in memory (see the module docstring). It
    implements `arena.chain.port.Ledger`. All methods run to completion
    without suspending, so under trio each call is atomic.

    - `faucet_amount > 0` enables the faucet, which credits that much from
      `mint:faucet` per call, refused (`not_allowed`) once the wallet holds
      `faucet_amount * 10` or more.
    - Built txs stay confirmable for `build_ttl_ms`; at most `max_pending` are
      kept (the oldest are dropped first) and at most
      `max_pending_per_wallet` per wallet (`rate_limited` beyond that).
    - Tip fees go to `tip_fee_account` (`fee:protocol`).
    """

    name = "embedded"

    def __init__(
        self,
        faucet_amount: int = 0,
        build_ttl_ms: int = 120_000,
        clock_ms: Callable[[], int] = _now_ms,
        *,
        max_pending: int = 100_000,
        max_pending_per_wallet: int = 64,
        tip_fee_account: str = PROTOCOL_FEE_ACCOUNT,
        book: LedgerBook | None = None,
    ) -> None:
        if not _is_int(faucet_amount) or faucet_amount < 0:
            raise ValueError("faucet_amount must be a non-negative int")
        if not _is_int(build_ttl_ms) or build_ttl_ms <= 0:
            raise ValueError("build_ttl_ms must be a positive int")
        if max_pending <= 0 or max_pending_per_wallet <= 0:
            raise ValueError("pending limits must be positive")
        self.faucet_amount = faucet_amount
        self.build_ttl_ms = build_ttl_ms
        self.clock_ms = clock_ms
        self.max_pending = max_pending
        self.max_pending_per_wallet = max_pending_per_wallet
        self.tip_fee_account = tip_fee_account
        self.book = book if book is not None else LedgerBook()
        # payment_id -> built, not yet confirmed tx; insertion order = age.
        self._pending: dict[str, _Pending] = {}
        self._pending_per_wallet: dict[str, int] = {}
        self.stats = {"entries_confirmed": 0, "tips_confirmed": 0, "settled": 0,
                      "refused": 0, "conflicts": 0, "faucets": 0}

    # --- balances -----------------------------------------------------------

    async def balance(self, wallet: str) -> int:
        if not is_wallet(wallet):
            raise _bad("not a wallet address")
        return self.book.balance(wallet)

    async def account_balance(self, account: str) -> int:
        if not isinstance(account, str) or not account:
            raise _bad("account must be a non-empty string")
        return self.book.balance(account)

    async def faucet(self, wallet: str) -> int:
        if self.faucet_amount <= 0:
            raise ArenaError(errors.NOT_ALLOWED, "the faucet is disabled")
        if not is_wallet(wallet):
            raise _bad("not a wallet address")
        if self.book.balance(wallet) >= self.faucet_amount * FAUCET_CAP_MULTIPLE:
            raise ArenaError(errors.NOT_ALLOWED, "balance is high enough; no more faucet")
        # Entry ids never repeat within a book, so neither does this key.
        key = f"faucet:{self.book.next_entry_id}"
        self.book.apply(key, [(FAUCET_MINT, wallet, self.faucet_amount)])
        self.stats["faucets"] += 1
        return self.book.balance(wallet)

    # --- building payments ----------------------------------------------------

    def _forget(self, pid: str) -> None:
        p = self._pending.pop(pid, None)
        if p is None:
            return
        n = self._pending_per_wallet.get(p.wallet, 0) - 1
        if n > 0:
            self._pending_per_wallet[p.wallet] = n
        else:
            self._pending_per_wallet.pop(p.wallet, None)

    def _prune(self, now: int) -> None:
        while self._pending:
            pid, p = next(iter(self._pending.items()))
            if p.expires_ms > now and len(self._pending) < self.max_pending:
                break
            self._forget(pid)

    def _build(self, body: dict) -> bytes:
        now = self.clock_ms()
        self._prune(now)
        wallet = body["from"]
        if self._pending_per_wallet.get(wallet, 0) >= self.max_pending_per_wallet:
            raise ArenaError(
                errors.RATE_LIMITED,
                "too many unconfirmed payments; confirm or let them expire",
                retry_after_ms=self.build_ttl_ms,
            )
        body["v"] = TX_VERSION
        body["nonce"] = secrets.token_hex(8)
        body["expires_ms"] = now + self.build_ttl_ms
        tx = pack_tx(body)
        self._pending[payment_id(tx)] = _Pending(tx, wallet, body["expires_ms"])
        self._pending_per_wallet[wallet] = self._pending_per_wallet.get(wallet, 0) + 1
        return tx

    def pays(self, wallet: str) -> bool:
        """`Ledger.pays`: any wallet address Arena takes."""
        return is_wallet(wallet)

    def payment_ref(self, tx: bytes) -> bytes:
        """`Ledger.payment_ref`: the built bytes (the wallet signs them as they are)."""
        return bytes(tx)

    async def build_entry(self, wallet: str, match: str, amount: int) -> bytes:
        if not is_wallet(wallet):
            raise _bad("not a wallet address")
        if not isinstance(match, str) or not 0 < len(match) <= MAX_MATCH_LEN:
            raise _bad("bad match id")
        if not _is_int(amount) or amount <= 0:
            raise _bad("amount must be a positive integer")
        return self._build({"kind": "entry", "from": wallet, "to": f"escrow:{match}",
                            "amount": amount, "match": match})

    async def build_tip(self, wallet: str, to: str, amount: int, fee: int) -> bytes:
        check_tip_args(wallet, to, amount, fee)
        return self._build({"kind": "tip", "from": wallet, "to": to,
                            "amount": amount, "fee": fee})

    # --- confirming payments --------------------------------------------------

    def _check_confirmable(self, key: str, pid: str, tx: bytes, body: dict,
                           signature: object) -> None:
        """Raise unless `tx` is a live tx of ours, signed by its payer, not yet applied."""
        if not isinstance(signature, (bytes, bytearray)):
            raise _bad("signature must be bytes")
        signed = verify_wallet_signature(body["from"], tx, bytes(signature))
        if self.book.is_applied(key):
            if not signed:
                raise ArenaError(errors.PAYMENT_FAILED, "bad signature")
            raise ArenaError(errors.DUPLICATE, "this payment was already confirmed")
        p = self._pending.get(pid)
        if p is None or p.tx != tx:
            raise ArenaError(errors.PAYMENT_FAILED, "unknown or expired transaction")
        if p.expires_ms <= self.clock_ms():
            self._forget(pid)
            raise ArenaError(errors.PAYMENT_FAILED, "unknown or expired transaction")
        if not signed:
            raise ArenaError(errors.PAYMENT_FAILED, "bad signature")

    def _apply_payment(self, key: str, pid: str, transfers: list[tuple[str, str, int]]) -> None:
        try:
            self.book.apply(key, transfers)
        except ArenaError:
            self.stats["refused"] += 1
            raise  # the tx stays confirmable (e.g. after topping up)
        self._forget(pid)

    async def confirm_entry(
        self, wallet: str, match: str, amount: int, tx: bytes, signature: bytes
    ) -> PaymentResult:
        body = decode_tx(tx)
        tx = bytes(tx)
        if body["kind"] != "entry":
            raise _bad("not an entry payment")
        if body["from"] != wallet:
            raise _bad("tx is not paid by this wallet")
        if body["match"] != match:
            raise _bad("tx is for another match")
        if body["amount"] != amount:
            raise _bad("tx amount differs from the entry fee")
        pid = payment_id(tx)
        key = f"entry:{pid}"
        self._check_confirmable(key, pid, tx, body, signature)
        self._apply_payment(key, pid, [(wallet, body["to"], amount)])
        self.stats["entries_confirmed"] += 1
        return PaymentResult(status="confirmed", payment_id=pid, match=match,
                             wallet=wallet, amount=amount)

    async def confirm_tip(self, wallet: str, tx: bytes, signature: bytes, *, match: str = "") -> TipResult:
        body = decode_tx(tx)
        tx = bytes(tx)
        if body["kind"] != "tip":
            raise _bad("not a tip")
        if body["from"] != wallet:
            raise _bad("tx is not paid by this wallet")
        pid = payment_id(tx)
        key = f"tip:{pid}"
        self._check_confirmable(key, pid, tx, body, signature)
        amount, fee, to = body["amount"], body["fee"], body["to"]
        self._apply_payment(key, pid, [(wallet, to, amount - fee),
                                       (wallet, self.tip_fee_account, fee)])
        self.stats["tips_confirmed"] += 1
        return TipResult(status="confirmed", payment_id=pid, from_wallet=wallet,
                         to_wallet=to, amount=amount, fee=fee)

    # --- settlements ------------------------------------------------------------

    @staticmethod
    def _settle_account_ok(account: object) -> bool:
        if not isinstance(account, str):
            return False
        for prefix in ("escrow:", "fee:"):
            if account.startswith(prefix):
                return len(account) > len(prefix)
        return is_wallet(account)

    async def settle(self, settle: Settle) -> None:
        if not isinstance(settle.key, str) or not settle.key:
            raise _bad("settle key must be a non-empty string")
        key = f"settle:{settle.key}"
        transfers = []
        for t in settle.transfers:
            if not self._settle_account_ok(t.source) or not self._settle_account_ok(t.dest):
                raise _bad(f"settle {settle.key}: bad account in {t!r}")
            transfers.append((t.source, t.dest, t.amount))
        if self.book.is_applied(key):
            # A repeat is a no-op only if it is the same settlement: the same
            # key with other transfers is a conflict, never proof of payment.
            done = [(e.debit, e.credit, e.amount) for e in self.book.entries if e.key == key]
            if done != [t for t in transfers if t[2] != 0]:
                self.stats["conflicts"] += 1
                raise ArenaError(errors.KEY_CONFLICT,
                                 f"settle {settle.key} was applied with other transfers: {done} != {transfers}")
            return
        try:
            self.book.apply(key, transfers)
        except ArenaError as e:
            self.stats["refused"] += 1
            if e.code == errors.INSUFFICIENT_FUNDS:
                raise ArenaError(errors.PAYMENT_FAILED,
                                 f"settle {settle.key}: {e.message}") from e
            raise
        self.stats["settled"] += 1

    async def settlement_receipt(self, key: str) -> dict | None:
        """What became of settlement `key`: "done" once applied. The embedded
        ledger has no transactions, so no signature (`None`); None if the key
        was never applied here."""
        if not self.book.is_applied(f"settle:{key}"):
            return None
        return {"ledger": self.name, "status": "done", "signature": None}

    # --- operations ----------------------------------------------------------------

    def health(self) -> dict:
        return {
            "name": self.name,
            "state": "active",
            "real_tokens": False,
            "accounts": len(self.book.balances),
            "entries": len(self.book.entries),
            "pending_txs": len(self._pending),
            "faucet_amount": self.faucet_amount,
            **self.stats,
        }
