"""A stateful property test of the BSV ledger's money on the simulated
network: faucets, entry fees, tips, forged and replayed confirms, double
spends, payouts (some interrupted between record and broadcast), repeats
of settled keys, blocks and restarts, in any order.

Invariants after every step:
- the network creates and loses nothing: every satoshi the faucet minted is
  in an unspent coin or was collected as a fee;
- every wallet holds exactly what the model says (faucet - paid + received);
- every match's escrow share is what was paid in less what was paid out;
  the escrow address holds the shares plus the float, and the float only
  ever shrinks by the network fees of the ledger's own transactions;
- no settlement key is on the network more than once;
- a restarted ledger (same record store) reports the same state hash.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import trio
from bsv.keys import PrivateKey
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.chain import bsv_tx as T
from arena.chain.bsv import BsvLedger
from arena.chain.solana_store import SolanaStore
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle, Transfer
from bsv_net import BsvSetup, bsv_network  # noqa: F401

FAUCET = 20_000
MATCHES = ("m0", "m1")


class _Crash(Exception):
    pass


class _NoBroadcast:
    def __init__(self, api):
        self.api = api

    def __getattr__(self, name):
        return getattr(self.api, name)

    async def broadcast(self, tx):
        raise _Crash()


@pytest.fixture
def net(bsv_network):
    return bsv_network


class BsvMoney(RuleBasedStateMachine):
    net = None
    tmp = None

    @initialize()
    def start(self):
        self.setup = BsvSetup(self.net)
        self.path = self.tmp / f"records-{self.setup.escrow.address()}.sqlite"
        self.led = self._ledger()
        self.keys = [PrivateKey() for _ in range(3)]
        self.wallet = {k.address(): 0 for k in self.keys}
        self.escrow = dict.fromkeys(MATCHES, 0)
        self.float = self._float()
        self.round = 0
        self.settled: list[Settle] = []
        self.last_signed = None

    def _ledger(self):
        return BsvLedger(**self.setup.ledger_kwargs(store=SolanaStore(self.path), faucet_amount=FAUCET))

    def _call(self, coro_fn, *args):
        async def go():
            try:
                return await coro_fn(*args)
            finally:
                await self.led.api.api.aclose() if isinstance(self.led.api, _NoBroadcast) else await self.led.api.aclose()
        return trio.run(go)

    def _float(self) -> int:
        return self._call(self.led.float_balance)

    # --- rules ----------------------------------------------------------------------------
    @rule(i=st.integers(0, 2))
    def faucet(self, i):
        w = self.keys[i].address()
        try:
            self._call(self.led.faucet, w)
        except ArenaError as exc:
            assert exc.code == "not_allowed"
            return
        self.wallet[w] += FAUCET

    @rule(i=st.integers(0, 2), m=st.sampled_from(MATCHES), amount=st.integers(1, 30_000))
    def pay_entry(self, i, m, amount):
        key = self.keys[i]
        w = key.address()
        tx = self._call(self.led.build_entry, w, m, amount)
        stx, sig = T.sign_payment(key, tx)
        try:
            res = self._call(self.led.confirm_entry, w, m, amount, stx, sig)
        except ArenaError as exc:
            assert exc.code == "insufficient_funds" and amount > self.wallet[w], exc
            return
        assert res.status == "confirmed"
        self.wallet[w] -= amount
        self.escrow[m] += amount
        self.last_signed = (w, m, amount, stx, sig)

    @rule(i=st.integers(0, 2), j=st.integers(0, 2), amount=st.integers(2, 5_000))
    def tip(self, i, j, amount):
        if i == j:
            return
        key, to = self.keys[i], self.keys[j].address()
        w = key.address()
        fee = amount * 200 // 10_000
        tx = self._call(self.led.build_tip, w, to, amount, fee)
        try:
            self._call(self.led.confirm_tip, w, *T.sign_payment(key, tx))
        except ArenaError as exc:
            assert exc.code == "insufficient_funds" and amount > self.wallet[w], exc
            return
        self.wallet[w] -= amount
        self.wallet[to] += amount - fee
        self.protocol_fees = getattr(self, "protocol_fees", 0) + fee

    @rule(i=st.integers(0, 2), m=st.sampled_from(MATCHES))
    def forged_confirm(self, i, m):
        key = self.keys[i]
        w = key.address()
        tx = self._call(self.led.build_entry, w, m, 1)
        for stx, sig in (T.sign_payment(PrivateKey(), tx), (T.sign_payment(key, tx)[0], bytes(65))):
            with pytest.raises(ArenaError) as err:
                self._call(self.led.confirm_entry, w, m, 1, stx, sig)
            assert err.value.code in ("payment_failed", "bad_request", "insufficient_funds")

    @precondition(lambda self: self.last_signed is not None)
    @rule()
    def replayed_confirm(self):
        with pytest.raises(ArenaError) as err:
            self._call(self.led.confirm_entry, *self.last_signed)
        assert err.value.code == "duplicate"

    @rule(i=st.integers(0, 2), m=st.sampled_from(MATCHES))
    def double_spend(self, i, m):
        """The player spends a built payment's coins elsewhere first: the confirm fails, nothing is charged."""
        key = self.keys[i]
        w = key.address()
        if self.wallet[w] < 1000:
            return
        tx = self._call(self.led.build_entry, w, m, 1000)
        stx, sig = T.sign_payment(key, tx)
        mine = [x for x in T.parse_ef(tx).inputs if x.locking_script.serialize() == T.script_of(w)]
        value = sum(x.satoshis for x in mine)
        away = T.new_tx(mine, [(T.script_of(w), value - 100)])  # back to itself, 100 sat fee
        T.sign_inputs(away, key)
        self.net.chain.submit(T.to_ef(away))
        self.wallet[w] -= 100
        with pytest.raises(ArenaError) as err:
            self._call(self.led.confirm_entry, w, m, 1000, stx, sig)
        assert err.value.code == "payment_failed"

    @rule(m=st.sampled_from(MATCHES), i=st.integers(0, 2), crash=st.booleans())
    def settle(self, m, i, crash):
        pot = self.escrow[m]
        if pot == 0:
            return
        self.round += 1
        winner = self.keys[i].address()
        fee = pot * 500 // 10_000
        s = Settle(key=f"payout:{m}:{self.setup.escrow.address()}:{self.round}", match=m, reason="completed", transfers=(
            Transfer(f"escrow:{m}", winner, pot - fee), Transfer(f"escrow:{m}", "fee:creator", fee)))
        if crash:
            real = self.led.api
            self.led.api = _NoBroadcast(real)
            with pytest.raises(_Crash):
                self._call(self.led.settle, s)
            self.led.api = real
            self.restart()  # recorded, never sent: the next ledger finishes it
        self._call(self.led.settle, s)
        self.escrow[m] = 0
        self.wallet[winner] += pot - fee
        self.settled.append(s)

    @precondition(lambda self: self.settled)
    @rule(data=st.data())
    def repeat_settle(self, data):
        self._call(self.led.settle, data.draw(st.sampled_from(self.settled)))

    @rule()
    def mine(self):
        self.net.chain.mine(1)

    @rule()
    def restart(self):
        before = self.state_hash()
        self.led.store.close()
        self.led = self._ledger()
        assert self.state_hash() == before

    # --- invariants ------------------------------------------------------------------------------
    def state_hash(self) -> str:
        async def read():
            try:
                return {"wallets": {w: await self.led.balance(w) for w in self.wallet},
                        "escrow": {m: await self.led.account_balance(f"escrow:{m}") for m in MATCHES},
                        "float": await self.led.float_balance(),
                        "settlements": sorted((s.key, s.state, s.sig) for s in self.led.store.done_settlements())}
            finally:
                await self.led.api.aclose()
        return hashlib.sha256(json.dumps(trio.run(read), sort_keys=True).encode()).hexdigest()

    @invariant()
    def network_conserves(self):
        c = self.net.chain
        assert c.coins_total() + c.fees_collected == c.minted

    @invariant()
    def wallets_and_escrow_match_the_model(self):
        for w, want in self.wallet.items():
            assert self.setup.on_chain(w) == want, w
        for m in MATCHES:
            assert self.led.store.escrow_balance(m) == self.escrow[m]
        # The escrow address: the matches' shares plus a float that only shrinks by fees.
        on_chain = self.setup.on_chain(self.setup.escrow.address())
        now_float = on_chain - sum(self.escrow.values())
        assert now_float <= self.float
        assert now_float == on_chain - self.led.store.escrow_total()
        self.float = now_float

    @invariant()
    def no_key_paid_twice(self):
        for s in self.settled:
            memo = f"arena:settle:{s.key}".encode()
            on_chain = [t for t, x in self.net.chain.txs.items()
                        if memo in x["raw"] and x["status"] in ("SEEN_ON_NETWORK", "MINED")]
            assert len(on_chain) == 1, (s.key, on_chain)


def test_bsv_money_machine(net, tmp_path):
    BsvMoney.net = net
    BsvMoney.tmp = tmp_path
    test = BsvMoney.TestCase
    test.settings = settings(max_examples=20, stateful_step_count=25, deadline=None,
                             suppress_health_check=list(HealthCheck))
    test().runTest()
