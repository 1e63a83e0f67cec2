"""EmbeddedLedger: the shared ledger contract, its own rules, and a stateful
property test of the double-entry book."""

from __future__ import annotations

import hashlib

import msgpack
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from solders.keypair import Keypair

from arena.chain.embedded import (
    FAUCET_MINT,
    EmbeddedLedger,
    Entry,
    LedgerBook,
    LedgerCorrupt,
    decode_tx,
    pack_tx,
)
from arena.chain.keys import is_wallet, verify_wallet_signature
from arena.chain.port import Ledger
from arena.engine import errors
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle, Transfer

try:
    from tests.ledger_contract import LedgerContract, new_match, raises_code, sign, wallet_of
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from ledger_contract import LedgerContract, new_match, raises_code, sign, wallet_of

FAUCET = 100_000


class FakeClock:
    def __init__(self, now: int = 1_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def run(coro):
    """Drive an EmbeddedLedger coroutine to completion synchronously.

    EmbeddedLedger never suspends, so one `send` finishes it; a coroutine
    that does suspend is a bug in that promise and fails loudly here.
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise AssertionError("EmbeddedLedger coroutine suspended")


# --------------------------------------------------------------------------
# The contract.
# --------------------------------------------------------------------------


class TestEmbeddedLedgerContract(LedgerContract):
    @pytest.fixture
    async def ledger_factory(self):
        made: list[EmbeddedLedger] = []

        async def make() -> EmbeddedLedger:
            led = EmbeddedLedger(faucet_amount=FAUCET)
            made.append(led)
            return led

        yield make
        for led in made:  # every test leaves a consistent book behind
            led.book.audit()


# --------------------------------------------------------------------------
# Keys.
# --------------------------------------------------------------------------


def test_keys_helpers():
    kp = Keypair()
    w = wallet_of(kp)
    assert is_wallet(w)
    assert is_wallet("1" * 32)
    for bad in ("", "abc", "0OIl" * 10, w + "1", w[:20], None, 42, b"x" * 32, " " + w):
        assert not is_wallet(bad)
    msg = b"arena:login:abc"
    sig = sign(kp, msg)
    assert verify_wallet_signature(w, msg, sig)
    assert not verify_wallet_signature(w, msg + b"!", sig)
    assert not verify_wallet_signature(wallet_of(Keypair()), msg, sig)
    assert not verify_wallet_signature(w, msg, sig[:63])
    assert not verify_wallet_signature(w, msg, sig + b"\x00")
    assert not verify_wallet_signature(w, msg, b"")
    assert not verify_wallet_signature(w, msg, "not bytes")  # type: ignore[arg-type]
    assert not verify_wallet_signature("not-a-wallet", msg, sig)
    assert not verify_wallet_signature(None, msg, sig)  # type: ignore[arg-type]
    assert not verify_wallet_signature(w, None, sig)  # type: ignore[arg-type]
    assert verify_wallet_signature(w, bytearray(msg), bytearray(sig))


# --------------------------------------------------------------------------
# Embedded-specific behaviour.
# --------------------------------------------------------------------------


async def test_is_a_ledger_and_says_it_is_play_money():
    led = EmbeddedLedger()
    assert isinstance(led, Ledger)
    assert led.name == "embedded"
    assert led.health()["real_tokens"] is False
    assert "no real tokens" in (EmbeddedLedger.__doc__ or "").lower()


async def test_faucet_disabled_by_default():
    led = EmbeddedLedger()
    with raises_code(errors.NOT_ALLOWED):
        await led.faucet(wallet_of(Keypair()))


async def test_faucet_cap():
    led = EmbeddedLedger(faucet_amount=100)
    w = wallet_of(Keypair())
    for i in range(10):
        assert await led.faucet(w) == 100 * (i + 1)
    with raises_code(errors.NOT_ALLOWED):
        await led.faucet(w)
    assert await led.balance(w) == 1000
    assert await led.account_balance(FAUCET_MINT) == -1000


async def test_entry_tx_format():
    clock = FakeClock()
    led = EmbeddedLedger(faucet_amount=FAUCET, build_ttl_ms=5_000, clock_ms=clock)
    w = wallet_of(Keypair())
    tx = await led.build_entry(w, "m1", 250)
    body = msgpack.unpackb(tx)
    assert body == {"v": 1, "kind": "entry", "from": w, "to": "escrow:m1", "amount": 250,
                    "match": "m1", "nonce": body["nonce"], "expires_ms": clock.now + 5_000}
    assert len(body["nonce"]) == 16 and int(body["nonce"], 16) >= 0
    assert list(body) == sorted(body)  # canonical: sorted keys
    assert pack_tx(body) == tx and decode_tx(tx) == body

    to = wallet_of(Keypair())
    ttx = await led.build_tip(w, to, 1000, 20)
    tbody = msgpack.unpackb(ttx)
    assert {k: tbody[k] for k in ("kind", "from", "to", "amount", "fee")} == {
        "kind": "tip", "from": w, "to": to, "amount": 1000, "fee": 20}


async def test_payment_id_is_blake2b_of_tx():
    led = EmbeddedLedger(faucet_amount=FAUCET)
    kp = Keypair()
    w = wallet_of(kp)
    await led.faucet(w)
    tx = await led.build_entry(w, "m", 10)
    res = await led.confirm_entry(w, "m", 10, tx, sign(kp, tx))
    assert res.status == "confirmed"
    assert res.payment_id == hashlib.blake2b(tx, digest_size=32).hexdigest()


async def test_non_canonical_or_foreign_tx_is_refused():
    led = EmbeddedLedger(faucet_amount=FAUCET)
    kp = Keypair()
    w = wallet_of(kp)
    await led.faucet(w)
    tx = await led.build_entry(w, "m", 10)
    body = msgpack.unpackb(tx)
    # Same content, keys in another order: not canonical.
    shuffled = msgpack.packb(dict(reversed(list(body.items()))))
    assert shuffled != tx
    with raises_code(errors.BAD_REQUEST):
        await led.confirm_entry(w, "m", 10, shuffled, sign(kp, shuffled))
    # A well-formed tx this ledger never built.
    forged = pack_tx({**body, "nonce": "00" * 8})
    with raises_code(errors.PAYMENT_FAILED) as r:
        await led.confirm_entry(w, "m", 10, forged, sign(kp, forged))
    assert "unknown or expired" in r.error.message
    # Not even bytes.
    with raises_code(errors.BAD_REQUEST):
        await led.confirm_entry(w, "m", 10, "text", sign(kp, tx))  # type: ignore[arg-type]
    with raises_code(errors.BAD_REQUEST):
        await led.confirm_entry(w, "m", 10, tx, "sig")  # type: ignore[arg-type]
    assert await led.balance(w) == FAUCET


async def test_built_tx_expires():
    clock = FakeClock()
    led = EmbeddedLedger(faucet_amount=FAUCET, build_ttl_ms=1_000, clock_ms=clock)
    kp = Keypair()
    w = wallet_of(kp)
    await led.faucet(w)
    tx = await led.build_entry(w, "m", 10)
    ok = await led.build_entry(w, "m", 10)
    clock.now += 999
    await led.confirm_entry(w, "m", 10, ok, sign(kp, ok))
    clock.now += 1
    with raises_code(errors.PAYMENT_FAILED):
        await led.confirm_entry(w, "m", 10, tx, sign(kp, tx))
    assert await led.balance(w) == FAUCET - 10
    assert led.health()["pending_txs"] == 0
    # A confirmed tx is still reported as a duplicate after its expiry.
    clock.now += 10_000
    with raises_code(errors.DUPLICATE):
        await led.confirm_entry(w, "m", 10, ok, sign(kp, ok))


async def test_insufficient_funds_leaves_tx_confirmable():
    led = EmbeddedLedger(faucet_amount=100)
    kp = Keypair()
    w = wallet_of(kp)
    tx = await led.build_entry(w, "m", 50)
    with raises_code(errors.INSUFFICIENT_FUNDS):
        await led.confirm_entry(w, "m", 50, tx, sign(kp, tx))
    await led.faucet(w)
    res = await led.confirm_entry(w, "m", 50, tx, sign(kp, tx))
    assert res.status == "confirmed"
    assert await led.balance(w) == 50
    with raises_code(errors.DUPLICATE):
        await led.confirm_entry(w, "m", 50, tx, sign(kp, tx))


async def test_duplicate_with_bad_signature_is_payment_failed():
    led = EmbeddedLedger(faucet_amount=100)
    kp = Keypair()
    w = wallet_of(kp)
    await led.faucet(w)
    tx = await led.build_entry(w, "m", 50)
    await led.confirm_entry(w, "m", 50, tx, sign(kp, tx))
    with raises_code(errors.PAYMENT_FAILED):
        await led.confirm_entry(w, "m", 50, tx, sign(Keypair(), tx))


async def test_pending_is_bounded():
    led = EmbeddedLedger(faucet_amount=FAUCET, max_pending=5, max_pending_per_wallet=3)
    kps = [Keypair() for _ in range(3)]
    txs = []
    for kp in kps:
        await led.faucet(wallet_of(kp))
        for _ in range(2):
            txs.append((kp, await led.build_entry(wallet_of(kp), "m", 1)))
    assert led.health()["pending_txs"] == 5  # the oldest was dropped
    kp0, tx0 = txs[0]
    with raises_code(errors.PAYMENT_FAILED):
        await led.confirm_entry(wallet_of(kp0), "m", 1, tx0, sign(kp0, tx0))
    for kp, tx in txs[1:]:
        await led.confirm_entry(wallet_of(kp), "m", 1, tx, sign(kp, tx))
    assert led.health()["pending_txs"] == 0
    # Per wallet: a fourth unconfirmed build is refused.
    w = wallet_of(kps[0])
    for _ in range(3):
        await led.build_entry(w, "m", 1)
    with raises_code(errors.RATE_LIMITED) as r:
        await led.build_entry(w, "m", 1)
    assert r.error.retry_after_ms
    await led.build_entry(wallet_of(kps[1]), "m", 1)


async def test_cannot_tip_yourself():
    led = EmbeddedLedger(faucet_amount=FAUCET)
    w = wallet_of(Keypair())
    with raises_code(errors.BAD_REQUEST):
        await led.build_tip(w, w, 100, 2)


async def test_tip_whole_amount_as_fee_and_zero_fee():
    led = EmbeddedLedger(faucet_amount=FAUCET)
    kp, to = Keypair(), wallet_of(Keypair())
    w = wallet_of(kp)
    await led.faucet(w)
    for amount, fee in ((100, 100), (100, 0)):
        tx = await led.build_tip(w, to, amount, fee)
        await led.confirm_tip(w, tx, sign(kp, tx))
    assert await led.balance(w) == FAUCET - 200
    assert await led.balance(to) == 100
    assert await led.account_balance("fee:protocol") == 100
    led.book.audit()


async def test_settle_refuses_mint_and_unknown_accounts():
    led = EmbeddedLedger(faucet_amount=FAUCET)
    w = wallet_of(Keypair())
    for src, dst in ((FAUCET_MINT, w), ("escrow:", w), ("bank", w), ("escrow:m", "nobody")):
        with raises_code(errors.BAD_REQUEST):
            await led.settle(Settle(key=f"k-{src}-{dst}", match="m", reason="x",
                                    transfers=(Transfer(src, dst, 1),)))
    with raises_code(errors.BAD_REQUEST):
        await led.settle(Settle(key="neg", match="m", reason="x",
                                transfers=(Transfer("escrow:m", w, -1),)))
    assert await led.balance(w) == 0
    assert led.book.entries == []


async def test_settle_all_zero_is_applied_once_and_survives_rebuild():
    led = EmbeddedLedger()
    w = wallet_of(Keypair())
    s = Settle(key="payout:z", match="z", reason="completed",
               transfers=(Transfer("escrow:z", w, 0),))
    await led.settle(s)
    assert led.book.is_applied("settle:payout:z")
    rebuilt = LedgerBook.from_entries(led.book.entries, led.book.applied_keys)
    assert rebuilt.is_applied("settle:payout:z")


async def test_book_rebuilds_from_entries():
    led = EmbeddedLedger(faucet_amount=FAUCET)
    a, b = Keypair(), Keypair()
    for kp in (a, b):
        await led.faucet(wallet_of(kp))
        tx = await led.build_entry(wallet_of(kp), "m", 1000)
        await led.confirm_entry(wallet_of(kp), "m", 1000, tx, sign(kp, tx))
    tx = await led.build_tip(wallet_of(a), wallet_of(b), 500, 10)
    await led.confirm_tip(wallet_of(a), tx, sign(a, tx))
    await led.settle(Settle(key="payout:m", match="m", reason="completed", transfers=(
        Transfer("escrow:m", wallet_of(b), 1900), Transfer("escrow:m", "fee:protocol", 100))))
    book = led.book
    as_tuples = [tuple(e) for e in book.entries]
    rebuilt = LedgerBook.from_entries(as_tuples, book.applied_keys)
    assert rebuilt.entries == book.entries
    assert rebuilt.balances == book.balances
    assert rebuilt.applied_keys == book.applied_keys
    # The rebuilt book keeps working, including duplicate detection.
    led2 = EmbeddedLedger(faucet_amount=FAUCET, book=rebuilt)
    with pytest.raises(ArenaError, match="other transfers") as err:
        await led2.settle(Settle(key="payout:m", match="m", reason="completed",
                                 transfers=(Transfer("fee:protocol", wallet_of(a), 1),)))
    assert err.value.code == errors.KEY_CONFLICT
    assert led2.book.balances == book.balances
    assert await led2.faucet(wallet_of(a)) == await led.balance(wallet_of(a)) + FAUCET


def test_from_entries_rejects_corrupt_books():
    good = [Entry(0, "f", FAUCET_MINT, "w", 10), Entry(1, "t", "w", "x", 10)]
    LedgerBook.from_entries(good).audit()
    with pytest.raises(LedgerCorrupt):  # overdraft
        LedgerBook.from_entries([Entry(0, "t", "w", "x", 1)])
    with pytest.raises(LedgerCorrupt):  # ids out of order
        LedgerBook.from_entries([good[1]._replace(entry_id=0), good[0]._replace(entry_id=1)][::-1])
    with pytest.raises(LedgerCorrupt):  # a key in two separate batches
        LedgerBook.from_entries(good + [Entry(2, "f", FAUCET_MINT, "w", 1)])
    with pytest.raises(LedgerCorrupt):  # zero-amount entry
        LedgerBook.from_entries([Entry(0, "f", FAUCET_MINT, "w", 0)])


def test_book_apply_is_all_or_nothing():
    book = LedgerBook()
    assert book.apply("f", [(FAUCET_MINT, "a", 10)])
    with pytest.raises(ArenaError) as e:
        book.apply("s", [("a", "b", 6), ("a", "c", 6)])
    assert e.value.code == errors.INSUFFICIENT_FUNDS
    assert book.balances == {FAUCET_MINT: -10, "a": 10}
    assert not book.is_applied("s")
    # Money received earlier in the batch can be spent later in it.
    assert book.apply("s", [("a", "b", 10), ("b", "c", 7)])
    assert book.balances == {FAUCET_MINT: -10, "a": 0, "b": 3, "c": 7}
    assert not book.apply("s", [("c", "a", 7)])
    with pytest.raises(ArenaError) as e:
        book.apply("x", [("c", "c", 1)])
    assert e.value.code == errors.BAD_REQUEST
    with pytest.raises(ArenaError) as e:
        book.apply("x", [("c", "a", True)])
    assert e.value.code == errors.BAD_REQUEST
    book.audit()


# --------------------------------------------------------------------------
# Stateful property test of the book.
# --------------------------------------------------------------------------

WALLETS = ("w:alice", "w:bob", "w:carol")
ESCROWS = ("escrow:m1", "escrow:m2")
FEES = ("fee:protocol", "fee:creator")
ACCOUNTS = WALLETS + ESCROWS + FEES
SETTLE_KEYS = tuple(f"settle:payout:m{i}" for i in range(4))
PAYMENTS = tuple(range(6))

amounts = st.integers(min_value=0, max_value=1_500)
# Two distinct accounts: an index and a non-zero offset from it.
transfers = st.tuples(
    st.integers(0, len(ACCOUNTS) - 1), st.integers(1, len(ACCOUNTS) - 1), amounts
).map(lambda t: (ACCOUNTS[t[0]], ACCOUNTS[(t[0] + t[1]) % len(ACCOUNTS)], t[2]))


def model_apply(model: dict[str, int], moves) -> dict[str, int] | None:
    """The expected balances after `moves`, or None if any step overdraws."""
    out = dict(model)
    for src, dst, amount in moves:
        if amount == 0:
            continue
        if out.get(src, 0) - amount < 0 and not src.startswith("mint:"):
            return None
        out[src] = out.get(src, 0) - amount
        out[dst] = out.get(dst, 0) + amount
    return out


class LedgerBookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book = LedgerBook()
        self.model: dict[str, int] = {}
        self.applied: dict[str, int] = {}  # key -> times apply returned True
        self.payment_of: dict[int, tuple] = {}  # a signed payment's fixed content
        self.n = 0

    def _fresh(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}:{self.n}"

    def _apply(self, key: str, moves) -> None:
        before = dict(self.book.balances)
        n_entries = len(self.book.entries)
        expected = model_apply(self.model, moves)
        if key in self.applied:
            assert self.book.apply(key, moves) is False
        elif expected is None:
            with pytest.raises(ArenaError) as e:
                self.book.apply(key, moves)
            assert e.value.code == errors.INSUFFICIENT_FUNDS
            assert not self.book.is_applied(key)
        else:
            assert self.book.apply(key, moves) is True
            self.applied[key] = self.applied.get(key, 0) + 1
            self.model = expected
            return
        # Refused or repeated: nothing moved.
        assert self.book.balances == before
        assert len(self.book.entries) == n_entries

    @rule(wallet=st.sampled_from(WALLETS), amount=st.integers(1, 1_000))
    def faucet(self, wallet, amount):
        self._apply(self._fresh("faucet"), [(FAUCET_MINT, wallet, amount)])

    @rule(t=transfers)
    def transfer(self, t):
        self._apply(self._fresh("transfer"), [t])

    @rule(key=st.sampled_from(SETTLE_KEYS), moves=st.lists(transfers, max_size=4))
    def settle(self, key, moves):
        self._apply(key, moves)

    @rule(pay=st.sampled_from(PAYMENTS), wallet=st.sampled_from(WALLETS),
          escrow=st.sampled_from(ESCROWS), amount=st.integers(1, 800))
    def confirm(self, pay, wallet, escrow, amount):
        """Confirm signed payment `pay`; the same payment confirmed again is a duplicate."""
        moves = self.payment_of.setdefault(pay, ((wallet, escrow, amount),))
        self._apply(f"entry:pay{pay}", list(moves))

    @precondition(lambda self: bool(self.applied))
    @rule(data=st.data())
    def replay(self, data):
        key = data.draw(st.sampled_from(sorted(self.applied)))
        self._apply(key, data.draw(st.lists(transfers, max_size=3)))

    @invariant()
    def sums_to_zero(self):
        assert self.book.total() == 0

    @invariant()
    def nothing_but_mint_is_negative(self):
        for acct, bal in self.book.balances.items():
            assert bal >= 0 or acct.startswith("mint:"), (acct, bal)

    @invariant()
    def each_key_applied_at_most_once(self):
        assert all(n == 1 for n in self.applied.values())
        seen: list[str] = []
        for e in self.book.entries:
            if not seen or seen[-1] != e.key:
                seen.append(e.key)
        assert len(seen) == len(set(seen)), "a key's entries are split over batches"
        assert set(seen) <= self.book.applied_keys
        assert self.book.applied_keys == set(self.applied)

    @invariant()
    def matches_model_and_entries(self):
        nz = lambda d: {k: v for k, v in d.items() if v}  # noqa: E731
        assert nz(self.book.balances) == nz(self.model)
        rebuilt = LedgerBook.from_entries(self.book.entries, self.book.applied_keys)
        assert nz(rebuilt.balances) == nz(self.book.balances)


LedgerBookMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestLedgerBook = LedgerBookMachine.TestCase


# --------------------------------------------------------------------------
# Stateful test of EmbeddedLedger with real keys and signatures.
# --------------------------------------------------------------------------

KEYS = tuple(Keypair() for _ in range(3))
MATCHES = ("m1", "m2")


class EmbeddedLedgerMachine(RuleBasedStateMachine):
    """Random faucets, builds, (duplicate) confirms and settles through the port."""

    def __init__(self) -> None:
        super().__init__()
        self.led = EmbeddedLedger(faucet_amount=500)
        self.built: list[tuple[int, str, bytes, int]] = []  # (payer, kind, tx, amount)
        self.confirmed: set[bytes] = set()
        self.spent: dict[str, int] = {}  # wallet -> confirmed outflow
        self.settled: set[str] = set()

    @rule(i=st.integers(0, len(KEYS) - 1))
    def faucet(self, i):
        w = wallet_of(KEYS[i])
        before = run(self.led.balance(w))
        try:
            assert run(self.led.faucet(w)) == before + 500
        except ArenaError as e:
            assert e.code == errors.NOT_ALLOWED and before >= 5_000

    @rule(i=st.integers(0, len(KEYS) - 1), m=st.sampled_from(MATCHES),
          amount=st.integers(1, 400))
    def build_entry(self, i, m, amount):
        tx = run(self.led.build_entry(wallet_of(KEYS[i]), m, amount))
        self.built.append((i, "entry", tx, amount))

    @rule(i=st.integers(0, len(KEYS) - 1), j=st.integers(0, len(KEYS) - 1),
          amount=st.integers(1, 400), fee_bps=st.integers(0, 10_000))
    def build_tip(self, i, j, amount, fee_bps):
        if i == j:
            return
        fee = amount * fee_bps // 10_000
        tx = run(self.led.build_tip(wallet_of(KEYS[i]), wallet_of(KEYS[j]), amount, fee))
        self.built.append((i, "tip", tx, amount))

    @precondition(lambda self: bool(self.built))
    @rule(data=st.data(), forge=st.booleans())
    def confirm(self, data, forge):
        i, kind, tx, amount = data.draw(st.sampled_from(self.built))
        kp = KEYS[i]
        w = wallet_of(kp)
        sig = sign(KEYS[(i + 1) % len(KEYS)] if forge else kp, tx)
        before = run(self.led.balance(w))
        body = decode_tx(tx)
        try:
            if kind == "entry":
                run(self.led.confirm_entry(w, body["match"], amount, tx, sig))
            else:
                run(self.led.confirm_tip(w, tx, sig))
        except ArenaError as e:
            if forge:
                assert e.code == errors.PAYMENT_FAILED
            elif tx in self.confirmed:
                assert e.code == errors.DUPLICATE
            else:
                assert e.code == errors.INSUFFICIENT_FUNDS and before < amount
            assert run(self.led.balance(w)) == before
            return
        assert not forge and tx not in self.confirmed
        self.confirmed.add(tx)
        assert run(self.led.balance(w)) == before - amount

    @rule(m=st.sampled_from(MATCHES), i=st.integers(0, len(KEYS) - 1),
          fee_bps=st.integers(0, 1_000), extra=st.integers(0, 2), k=st.integers(0, 2))
    def settle(self, m, i, fee_bps, extra, k):
        escrow = f"escrow:{m}"
        pot = run(self.led.account_balance(escrow))
        fee = pot * fee_bps // 10_000
        key = f"payout:{m}:{k}"
        s = Settle(key=key, match=m, reason="completed", transfers=(
            Transfer(escrow, wallet_of(KEYS[i]), pot - fee + extra),
            Transfer(escrow, "fee:protocol", fee)))
        before = dict(self.led.book.balances)
        try:
            run(self.led.settle(s))
        except ArenaError as e:
            if e.code == errors.KEY_CONFLICT:  # the key was settled with another payload
                assert key in self.settled and self.led.book.balances == before
                return
            assert e.code == errors.PAYMENT_FAILED
            assert extra > 0 and key not in self.settled
            assert self.led.book.balances == before
            return
        if key in self.settled:
            assert self.led.book.balances == before
        else:
            assert extra == 0, "overdraft accepted"
            self.settled.add(key)

    @invariant()
    def book_is_sound(self):
        book = self.led.book
        assert book.total() == 0
        for acct, bal in book.balances.items():
            assert bal >= 0 or acct == FAUCET_MINT
        keys = [e.key for e in book.entries]
        starts = [k for n, k in enumerate(keys) if n == 0 or keys[n - 1] != k]
        assert len(starts) == len(set(starts))


EmbeddedLedgerMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestEmbeddedLedgerStateful = EmbeddedLedgerMachine.TestCase
