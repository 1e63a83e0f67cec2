"""The ledger contract: what every `arena.chain.port.Ledger` must do.

Reuse it for any ledger implementation by subclassing `LedgerContract` in a
`test_*.py` module and providing one fixture, `ledger_factory`: an async
fixture that yields an async callable returning a ready `Ledger` whose faucet
is enabled (so the suite can fund fresh wallets) and grants at least
`LedgerContract.MIN_FAUCET` base units per call. The fixture owns set-up and
tear-down (start/stop a validator, close clients, ...)::

    from ledger_contract import LedgerContract

    class TestSolanaLedgerContract(LedgerContract):
        @pytest.fixture
        async def ledger_factory(self):
            async with start_local_validator() as rpc:
                async def make():
                    return SolanaLedger(rpc, faucet_amount=1_000_000)
                yield make

A ledger whose confirmations can come back as `"pending"` overrides
`wait_final(ledger, result)` to wait until the payment has landed; the
default requires `"confirmed"` straight away.

The suite only ever uses fresh wallets and fresh match ids, and measures the
shared platform accounts (`fee:*`) as before/after differences, so it can run
against a ledger that other tests (or earlier runs) have used.
"""

from __future__ import annotations

import uuid

import pytest
from solders.keypair import Keypair

from arena.chain.port import Ledger, PaymentResult, TipResult
from arena.engine import errors
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle, Transfer

REFUSED = {errors.BAD_REQUEST, errors.PAYMENT_FAILED}
TIP_FEE_BPS = 200
PLATFORM_FEE_BPS = 500


def wallet_of(kp: Keypair) -> str:
    return str(kp.pubkey())


def sign(kp: Keypair, tx: bytes) -> bytes:
    return bytes(kp.sign_message(tx))


def new_match() -> str:
    return f"contract-{uuid.uuid4().hex[:16]}"


class _Raises:
    """`with raises_code("duplicate"):` - an ArenaError with one of these codes."""

    def __init__(self, *codes: str) -> None:
        self.codes = set(codes)
        self.error: ArenaError | None = None

    def __enter__(self) -> _Raises:
        return self

    def __exit__(self, et, ev, tb) -> bool:
        if et is None:
            pytest.fail(f"expected ArenaError with code in {sorted(self.codes)}, got no error")
        if not issubclass(et, ArenaError):
            return False
        assert ev.code in self.codes, f"code {ev.code!r} ({ev.message}), expected {sorted(self.codes)}"
        self.error = ev
        return True


def raises_code(*codes: str) -> _Raises:
    return _Raises(*codes)


class LedgerContract:
    """Contract tests; subclass as `Test...` and provide `ledger_factory`."""

    MIN_FAUCET = 10_000

    # --- fixtures and hooks --------------------------------------------------

    # The wallet kind the suite plays with: Solana keys by default; a ledger of
    # another kind (BSV) overrides these four.
    def new_key(self):
        return Keypair()

    def wallet_of(self, key) -> str:
        return wallet_of(key)

    def signed(self, key, tx: bytes) -> tuple[bytes, bytes]:
        """What a wallet sends to `*.confirm` for the built `tx`: (tx, signature)."""
        return tx, sign(key, tx)

    def forgeries(self, key, tx: bytes) -> list[tuple[bytes, bytes]]:
        """(tx, signature) pairs for the built `tx` that are not `key`'s payment."""
        return [(tx, sign(Keypair(), tx)), (tx, bytes(64)), (tx, sign(key, tx + b"x")), (tx, sign(key, tx)[:63])]

    @pytest.fixture
    async def ledger(self, ledger_factory) -> Ledger:
        return await ledger_factory()

    async def wait_final(self, ledger: Ledger, result: PaymentResult | TipResult) -> None:
        """Wait until a confirmed/pending payment has landed. Override if needed."""
        assert result.status == "confirmed", result

    # --- helpers ----------------------------------------------------------------

    async def funded(self, ledger: Ledger) -> tuple[Keypair, int]:
        kp = self.new_key()
        bal = await ledger.faucet(self.wallet_of(kp))
        assert bal >= self.MIN_FAUCET, f"faucet must grant >= {self.MIN_FAUCET}, got {bal}"
        assert await ledger.balance(self.wallet_of(kp)) == bal
        return kp, bal

    async def pay_entry(self, ledger: Ledger, kp: Keypair, match: str, amount: int) -> PaymentResult:
        w = self.wallet_of(kp)
        tx = await ledger.build_entry(w, match, amount)
        res = await ledger.confirm_entry(w, match, amount, *self.signed(kp, tx))
        await self.wait_final(ledger, res)
        return res

    async def snapshot(self, ledger: Ledger, *accounts: str) -> dict[str, int]:
        return {a: await ledger.account_balance(a) for a in accounts}

    # --- port shape -----------------------------------------------------------------

    async def test_implements_port(self, ledger):
        assert isinstance(ledger, Ledger)
        assert isinstance(ledger.name, str) and ledger.name
        h = ledger.health()
        assert isinstance(h, dict)

    # --- faucet and balance --------------------------------------------------------

    async def test_faucet_and_balance(self, ledger):
        kp = self.new_key()
        w = self.wallet_of(kp)
        assert await ledger.balance(w) == 0
        bal = await ledger.faucet(w)
        assert bal >= self.MIN_FAUCET
        assert await ledger.balance(w) == bal
        assert await ledger.account_balance(w) == bal
        bal2 = await ledger.faucet(w)
        assert bal2 == 2 * bal
        assert await ledger.balance(w) == bal2

    async def test_balance_of_non_wallet_is_bad_request(self, ledger):
        with raises_code(errors.BAD_REQUEST):
            await ledger.balance("not-a-wallet")
        with raises_code(errors.BAD_REQUEST):
            await ledger.faucet("0OIl")

    # --- entry fees --------------------------------------------------------------------

    async def test_entry_moves_fee_into_escrow(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m, amount = self.wallet_of(kp), new_match(), bal // 10
        res = await self.pay_entry(ledger, kp, m, amount)
        assert isinstance(res, PaymentResult)
        assert (res.match, res.wallet, res.amount) == (m, w, amount)
        assert isinstance(res.payment_id, str) and res.payment_id
        assert await ledger.balance(w) == bal - amount
        assert await ledger.account_balance(f"escrow:{m}") == amount

    async def test_two_entries_into_one_escrow_have_distinct_payment_ids(self, ledger):
        (a, bal_a), (b, bal_b) = await self.funded(ledger), await self.funded(ledger)
        m, amount = new_match(), self.MIN_FAUCET // 10
        ra = await self.pay_entry(ledger, a, m, amount)
        rb = await self.pay_entry(ledger, b, m, amount)
        assert ra.payment_id != rb.payment_id
        assert await ledger.account_balance(f"escrow:{m}") == 2 * amount

    async def test_same_signed_tx_twice_is_duplicate_and_charged_once(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m, amount = self.wallet_of(kp), new_match(), bal // 10
        tx = await ledger.build_entry(w, m, amount)
        stx, sig = self.signed(kp, tx)
        res = await ledger.confirm_entry(w, m, amount, stx, sig)
        await self.wait_final(ledger, res)
        with raises_code(errors.DUPLICATE):
            await ledger.confirm_entry(w, m, amount, stx, sig)
        with raises_code(errors.DUPLICATE):
            await ledger.confirm_entry(w, m, amount, stx, sig)
        assert await ledger.balance(w) == bal - amount
        assert await ledger.account_balance(f"escrow:{m}") == amount

    async def test_each_build_is_a_separate_payment(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m, amount = self.wallet_of(kp), new_match(), bal // 10
        tx1 = await ledger.build_entry(w, m, amount)
        tx2 = await ledger.build_entry(w, m, amount)
        assert tx1 != tx2
        for tx in (tx1, tx2):
            await self.wait_final(ledger, await ledger.confirm_entry(w, m, amount, *self.signed(kp, tx)))
        assert await ledger.balance(w) == bal - 2 * amount
        assert await ledger.account_balance(f"escrow:{m}") == 2 * amount

    async def test_wrong_signer_is_payment_failed(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m, amount = self.wallet_of(kp), new_match(), bal // 10
        tx = await ledger.build_entry(w, m, amount)
        for bad_tx, bad_sig in self.forgeries(kp, tx):
            with raises_code(errors.PAYMENT_FAILED):
                await ledger.confirm_entry(w, m, amount, bad_tx, bad_sig)
        assert await ledger.balance(w) == bal
        assert await ledger.account_balance(f"escrow:{m}") == 0
        # The genuine signature still works afterwards.
        await self.wait_final(ledger, await ledger.confirm_entry(w, m, amount, *self.signed(kp, tx)))
        assert await ledger.balance(w) == bal - amount

    async def test_signature_by_another_wallet_for_its_own_address_is_refused(self, ledger):
        # Mallory signs Alice's tx and claims to be the payer: wallet mismatch.
        kp, bal = await self.funded(ledger)
        mallory = self.new_key()
        m, amount = new_match(), bal // 10
        tx = await ledger.build_entry(self.wallet_of(kp), m, amount)
        with raises_code(*REFUSED):
            await ledger.confirm_entry(self.wallet_of(mallory), m, amount, *self.signed(mallory, tx))
        assert await ledger.balance(self.wallet_of(kp)) == bal
        assert await ledger.account_balance(f"escrow:{m}") == 0

    async def test_tampered_tx_is_refused(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m, amount = self.wallet_of(kp), new_match(), bal // 10
        tx = await ledger.build_entry(w, m, amount)
        sent, sig = self.signed(kp, tx)
        variants = [sent + b"\x00", sent[:-1], b"", b"\xc1", b"\x00garbage"]
        for i in sorted({0, 1, len(sent) // 3, len(sent) // 2, (2 * len(sent)) // 3, len(sent) - 1}):
            variants.append(sent[:i] + bytes([sent[i] ^ 0x01]) + sent[i + 1:])
        for bad in variants:
            # Signed by the right key over the tampered bytes: still not ours.
            with raises_code(*REFUSED):
                await ledger.confirm_entry(w, m, amount, *self.signed(kp, bad))
            # The original signature over tampered bytes.
            with raises_code(*REFUSED):
                await ledger.confirm_entry(w, m, amount, bad, sig)
        assert await ledger.balance(w) == bal
        assert await ledger.account_balance(f"escrow:{m}") == 0
        await self.wait_final(ledger, await ledger.confirm_entry(w, m, amount, *self.signed(kp, tx)))
        assert await ledger.account_balance(f"escrow:{m}") == amount

    async def test_wrong_amount_match_or_wallet_is_refused_and_charges_nothing(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m, amount = self.wallet_of(kp), new_match(), bal // 10
        other = new_match()
        tx = await ledger.build_entry(w, m, amount)
        tx, sig = self.signed(kp, tx)
        with raises_code(errors.BAD_REQUEST):
            await ledger.confirm_entry(w, m, amount + 1, tx, sig)
        with raises_code(errors.BAD_REQUEST):
            await ledger.confirm_entry(w, m, amount - 1, tx, sig)
        with raises_code(errors.BAD_REQUEST):
            await ledger.confirm_entry(w, other, amount, tx, sig)
        with raises_code(errors.BAD_REQUEST):
            await ledger.confirm_entry(self.wallet_of(self.new_key()), m, amount, tx, sig)
        assert await ledger.balance(w) == bal
        assert await ledger.account_balance(f"escrow:{m}") == 0
        assert await ledger.account_balance(f"escrow:{other}") == 0
        # Refusals do not use the tx up.
        await self.wait_final(ledger, await ledger.confirm_entry(w, m, amount, tx, sig))
        assert await ledger.account_balance(f"escrow:{m}") == amount

    async def test_entry_tx_is_not_a_tip_and_vice_versa(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m, amount = self.wallet_of(kp), new_match(), bal // 10
        etx = await ledger.build_entry(w, m, amount)
        ttx = await ledger.build_tip(w, self.wallet_of(self.new_key()), amount, 0)
        with raises_code(*REFUSED):
            await ledger.confirm_tip(w, *self.signed(kp, etx))
        with raises_code(*REFUSED):
            await ledger.confirm_entry(w, m, amount, *self.signed(kp, ttx))
        assert await ledger.balance(w) == bal

    async def test_insufficient_funds_charges_nothing(self, ledger):
        poor = self.new_key()
        w, m = self.wallet_of(poor), new_match()
        tx = await ledger.build_entry(w, m, 1)
        with raises_code(errors.INSUFFICIENT_FUNDS):
            await ledger.confirm_entry(w, m, 1, *self.signed(poor, tx))
        assert await ledger.balance(w) == 0
        assert await ledger.account_balance(f"escrow:{m}") == 0

        kp, bal = await self.funded(ledger)
        w = self.wallet_of(kp)
        tx = await ledger.build_entry(w, m, bal + 1)
        with raises_code(errors.INSUFFICIENT_FUNDS):
            await ledger.confirm_entry(w, m, bal + 1, *self.signed(kp, tx))
        assert await ledger.balance(w) == bal
        assert await ledger.account_balance(f"escrow:{m}") == 0
        # Exactly the whole balance is fine.
        await self.pay_entry(ledger, kp, m, bal)
        assert await ledger.balance(w) == 0
        assert await ledger.account_balance(f"escrow:{m}") == bal

    async def test_build_rejects_bad_arguments(self, ledger):
        kp, bal = await self.funded(ledger)
        w, m = self.wallet_of(kp), new_match()
        for amount in (0, -1):
            with raises_code(errors.BAD_REQUEST):
                await ledger.build_entry(w, m, amount)
        with raises_code(errors.BAD_REQUEST):
            await ledger.build_entry("not-a-wallet", m, 10)
        to = self.wallet_of(self.new_key())
        with raises_code(errors.BAD_REQUEST):
            await ledger.build_tip(w, to, 0, 0)
        with raises_code(errors.BAD_REQUEST):
            await ledger.build_tip(w, to, 100, 101)
        with raises_code(errors.BAD_REQUEST):
            await ledger.build_tip(w, to, 100, -1)
        with raises_code(errors.BAD_REQUEST):
            await ledger.build_tip(w, "not-a-wallet", 100, 2)
        assert await ledger.balance(w) == bal

    # --- tips ------------------------------------------------------------------------------

    async def test_tip_splits_amount_between_performer_and_protocol(self, ledger):
        tipper, bal = await self.funded(ledger)
        performer = self.new_key()
        tw, pw = self.wallet_of(tipper), self.wallet_of(performer)
        amount = bal // 4
        fee = amount * TIP_FEE_BPS // 10_000
        assert fee > 0
        before = await self.snapshot(ledger, "fee:protocol")
        tx = await ledger.build_tip(tw, pw, amount, fee)
        tx, sig = self.signed(tipper, tx)
        res = await ledger.confirm_tip(tw, tx, sig)
        await self.wait_final(ledger, res)
        assert isinstance(res, TipResult)
        assert (res.from_wallet, res.to_wallet, res.amount, res.fee) == (tw, pw, amount, fee)
        assert await ledger.balance(tw) == bal - amount
        assert await ledger.balance(pw) == amount - fee
        assert await ledger.account_balance("fee:protocol") == before["fee:protocol"] + fee
        # Confirming the same tip again charges nothing.
        with raises_code(errors.DUPLICATE):
            await ledger.confirm_tip(tw, tx, sig)
        assert await ledger.balance(tw) == bal - amount
        assert await ledger.balance(pw) == amount - fee
        assert await ledger.account_balance("fee:protocol") == before["fee:protocol"] + fee

    async def test_tip_refusals_charge_nothing(self, ledger):
        tipper, bal = await self.funded(ledger)
        performer = self.new_key()
        tw, pw = self.wallet_of(tipper), self.wallet_of(performer)
        tx = await ledger.build_tip(tw, pw, 1000, 20)
        with raises_code(errors.BAD_REQUEST):  # someone else claims to pay it
            await ledger.confirm_tip(pw, *self.signed(performer, tx))
        with raises_code(errors.PAYMENT_FAILED):  # wrong signer
            await ledger.confirm_tip(tw, *self.signed(performer, tx))
        big = await ledger.build_tip(tw, pw, bal + 1, 0)
        with raises_code(errors.INSUFFICIENT_FUNDS):
            await ledger.confirm_tip(tw, *self.signed(tipper, big))
        assert await ledger.balance(tw) == bal
        assert await ledger.balance(pw) == 0

    # --- settlements -------------------------------------------------------------------------

    async def _battle(self, ledger) -> tuple[str, Keypair, Keypair, int, int]:
        """Two funded players who each paid `fee` into `escrow:<m>`."""
        (a, bal_a), (b, bal_b) = await self.funded(ledger), await self.funded(ledger)
        m, fee = new_match(), self.MIN_FAUCET // 5
        await self.pay_entry(ledger, a, m, fee)
        await self.pay_entry(ledger, b, m, fee)
        assert bal_a == bal_b
        return m, a, b, fee, bal_a

    async def test_settle_pays_winner_and_fees_once(self, ledger):
        m, a, b, fee, bal = await self._battle(ledger)
        escrow, pot = f"escrow:{m}", 2 * fee
        platform = pot * PLATFORM_FEE_BPS // 10_000
        protocol, creator = platform // 2, platform - platform // 2
        prize = pot - platform
        accounts = ("fee:protocol", "fee:creator")
        before = await self.snapshot(ledger, *accounts)
        s = Settle(key=f"payout:{m}", match=m, reason="completed", transfers=(
            Transfer(escrow, self.wallet_of(a), prize),
            Transfer(escrow, "fee:protocol", protocol),
            Transfer(escrow, "fee:creator", creator),
        ))
        await ledger.settle(s)
        assert await ledger.account_balance(escrow) == 0
        assert await ledger.balance(self.wallet_of(a)) == bal - fee + prize
        assert await ledger.balance(self.wallet_of(b)) == bal - fee
        after = await self.snapshot(ledger, *accounts)
        assert after["fee:protocol"] - before["fee:protocol"] == protocol
        assert after["fee:creator"] - before["fee:creator"] == creator
        # A repeat of the key pays nothing more; the key with another payload
        # (another world's settlement, a bug) is refused loudly, never "done".
        await ledger.settle(s)
        with pytest.raises(ArenaError) as err:
            await ledger.settle(Settle(key=s.key, match=m, reason="completed",
                                       transfers=(Transfer(escrow, self.wallet_of(b), 1),)))
        assert err.value.code == "key_conflict"
        with pytest.raises(ArenaError, match="other transfers"):
            await ledger.settle(Settle(key=s.key, match=m, reason="completed",
                                       transfers=(Transfer(escrow, self.wallet_of(a), prize + protocol + creator),)))
        assert await ledger.account_balance(escrow) == 0
        assert await ledger.balance(self.wallet_of(a)) == bal - fee + prize
        assert await ledger.balance(self.wallet_of(b)) == bal - fee
        assert await self.snapshot(ledger, *accounts) == after

    async def test_settle_refund(self, ledger):
        m, a, b, fee, bal = await self._battle(ledger)
        escrow = f"escrow:{m}"
        s = Settle(key=f"refund:{m}", match=m, reason="cancelled", transfers=(
            Transfer(escrow, self.wallet_of(a), fee), Transfer(escrow, self.wallet_of(b), fee)))
        await ledger.settle(s)
        await ledger.settle(s)
        assert await ledger.account_balance(escrow) == 0
        assert await ledger.balance(self.wallet_of(a)) == bal
        assert await ledger.balance(self.wallet_of(b)) == bal

    async def test_settle_skips_zero_amounts(self, ledger):
        m, a, b, fee, bal = await self._battle(ledger)
        escrow = f"escrow:{m}"
        s = Settle(key=f"payout:{m}", match=m, reason="completed", transfers=(
            Transfer(escrow, self.wallet_of(a), 2 * fee), Transfer(escrow, "fee:partner", 0)))
        await ledger.settle(s)
        assert await ledger.account_balance(escrow) == 0
        assert await ledger.balance(self.wallet_of(a)) == bal + fee

    async def test_settle_overdrawing_escrow_is_refused_atomically(self, ledger):
        m, a, b, fee, bal = await self._battle(ledger)
        escrow, pot = f"escrow:{m}", 2 * fee
        before = await self.snapshot(ledger, "fee:protocol")
        bad_orders = [
            (Transfer(escrow, self.wallet_of(a), pot), Transfer(escrow, "fee:protocol", 1)),
            (Transfer(escrow, "fee:protocol", 1), Transfer(escrow, self.wallet_of(a), pot)),
            (Transfer(escrow, self.wallet_of(a), pot + 1),),
        ]
        for transfers in bad_orders:
            with raises_code(errors.PAYMENT_FAILED):
                await ledger.settle(Settle(key=f"payout:{m}", match=m, reason="completed",
                                           transfers=transfers))
            assert await ledger.account_balance(escrow) == pot
            assert await ledger.balance(self.wallet_of(a)) == bal - fee
            assert await ledger.balance(self.wallet_of(b)) == bal - fee
            assert await self.snapshot(ledger, "fee:protocol") == before
        # A refused settlement did not use its key up.
        await ledger.settle(Settle(key=f"payout:{m}", match=m, reason="completed",
                                   transfers=(Transfer(escrow, self.wallet_of(a), pot),)))
        assert await ledger.account_balance(escrow) == 0
        assert await ledger.balance(self.wallet_of(a)) == bal + fee

    async def test_settle_from_an_empty_escrow_is_refused(self, ledger):
        m = new_match()
        winner = self.wallet_of(self.new_key())
        with raises_code(errors.PAYMENT_FAILED):
            await ledger.settle(Settle(key=f"payout:{m}", match=m, reason="completed",
                                       transfers=(Transfer(f"escrow:{m}", winner, 1),)))
        assert await ledger.balance(winner) == 0
        assert await ledger.account_balance(f"escrow:{m}") == 0
