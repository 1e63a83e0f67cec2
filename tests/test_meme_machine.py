"""A hypothesis state machine over meme rounds in the engine: uploads and
their review results (ready, low quality, flagged, failed and retried),
deposits (money and purpose in either order, or the purpose lost), views,
beats, stops, disconnects, listings and purchases (valid or not), new
blocks, time, and restarts (the state rebuilt from the journal, the viewers
of the stopped server told they are gone).

After every step: the escrow holds exactly what the state owes (balances,
unsettled shares, the pool, payments awaiting a purpose); every charged
second is paid once (charged = direct + pooled; direct = settled + owed;
pooled = paid pools + the current pool); every round's pool settlement sums
to its pool; no viewer is charged beyond its deposits; nothing is created
or lost across all accounts. At the end, replay gives the same hash."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from arena.engine import core
from arena.engine import inputs as I
from arena.engine.canonical import state_hash
from arena.persistence.durable import replay
from meme_harness import Engine

WALLETS = ("a", "b", "c", "d")
OWNERS = ("a", "o1", "o2")


class MemeMachine(RuleBasedStateMachine):
    @initialize(rate=st.integers(1, 7), bps=st.integers(4000, 4500), settle=st.integers(1, 20),
                blocks=st.integers(1, 3))
    def start(self, rate, bps, settle, blocks):
        self.e = Engine(rate_per_s=rate, direct_bps=bps, settle_every_s=settle, blocks_per_round=blocks,
                        beat_timeout_ms=5_000, process_retry_ms=2_000, purpose_wait_ms=3_000,
                        round_fallback_ms=40_000, quality_min=50)
        self.e.read_round()
        self.e.run(0.1)
        self.deposits: dict[str, int] = {}
        self.paid_pools: set[str] = set()
        # Two ready items in the round, and two viewers with money, so that
        # short runs watch, charge and trade too.
        self.e.ready("o1")
        self.e.ready("o2", "a dog reading the news")
        self.e.next_round()
        for wallet in ("a", "b"):
            self.e.pay(wallet, 50)
            self.deposits[wallet] = 50

    @property
    def sh(self):
        return self.e.shared()

    def _content(self, data, ready=False):
        ids = [c for c, x in self.sh.contents.items() if not ready or x.state == "ready"]
        return data.draw(st.sampled_from(ids)) if ids else "nope"

    @rule(owner=st.sampled_from(OWNERS))
    def upload(self, owner):
        assert self.e.upload(owner=owner).ok

    @precondition(lambda self: self.e.reviews)
    @rule(data=st.data(), outcome=st.sampled_from(["good", "good", "low", "flagged", "failed"]))
    def review(self, data, outcome):
        eff = data.draw(st.sampled_from(self.e.reviews))
        self.e.review(eff, ok=outcome != "failed", quality=20 if outcome == "low" else 80,
                      flagged=outcome == "flagged", reason=outcome)

    @rule(wallet=st.sampled_from(WALLETS), amount=st.integers(1, 60),
          order=st.sampled_from(["money_first", "purpose_first", "money_only"]), between=st.booleans())
    def deposit(self, wallet, amount, order, between):
        self.e.pay(wallet, amount, order=order, tick_between=between)
        if order != "money_only":
            self.deposits[wallet] = self.deposits.get(wallet, 0) + amount

    @rule(data=st.data(), wallet=st.sampled_from(WALLETS))
    def view(self, data, wallet):
        self.e.start(wallet, self._content(data, ready=True))

    @rule(data=st.data(), wallet=st.sampled_from(WALLETS))
    def beat(self, data, wallet):
        self.e.beat(wallet, self._content(data))

    @rule(wallet=st.sampled_from(WALLETS))
    def stop(self, wallet):
        before = self.sh.views.get(wallet)
        reply = self.e.stop(wallet)
        assert reply.ok == (before is not None)

    @rule(wallet=st.sampled_from(WALLETS))
    def withdraw(self, wallet):
        before = self.sh.balances.get(wallet, 0)
        view = self.sh.views.get(wallet)
        charged = view.charged if view is not None else 0
        reply = self.e.withdraw(wallet)
        metered = view.charged - charged if view is not None else 0  # seconds charged in the same tick
        if reply.ok:  # not watching (or its view ended in this very tick)
            assert reply.body == {"amount": before - metered} and self.sh.balances.get(wallet, 0) == 0
            self.deposits[wallet] = self.deposits.get(wallet, 0) - reply.body["amount"]  # what it may still be charged
        else:  # refused while watching: nothing taken but what was metered
            assert view is not None and wallet in self.sh.views
            assert self.sh.balances.get(wallet, 0) == before - metered

    @rule(wallet=st.sampled_from(WALLETS))
    def disconnect(self, wallet):
        self.e.disconnect(wallet)
        assert wallet not in self.sh.views

    @rule(data=st.data(), wallet=st.sampled_from(WALLETS + OWNERS), price=st.integers(0, 80))
    def list_it(self, data, wallet, price):
        self.e.list(wallet, self._content(data), price)

    @rule(data=st.data(), wallet=st.sampled_from(WALLETS), exact=st.booleans())
    def buy(self, data, wallet, exact):
        cid = self._content(data)
        c = self.sh.contents.get(cid)
        price = c.price if exact and c is not None and c.price > 0 else 13
        owner = c.owner if c is not None else None
        valid = c is not None and c.price == price and c.state == "ready" and owner != wallet
        self.e.pay(wallet, price, purpose="buy", content=cid)
        if c is not None:
            assert c.owner == (wallet if valid else owner)  # a bad purchase changes no owner

    @rule(data=st.data(), wallet=st.sampled_from(WALLETS), seconds=st.integers(1, 8))
    def watch_a_while(self, data, wallet, seconds):
        """A view kept alive by beats for a few seconds."""
        cid = self._content(data, ready=True)
        self.e.start(wallet, cid)
        for _ in range(seconds):
            self.e.run(1)
            self.e.beat(wallet, cid)

    @rule(data=st.data(), buyer=st.sampled_from(WALLETS), price=st.integers(1, 80))
    def trade(self, data, buyer, price):
        """The owner lists, a buyer pays the price."""
        cid = self._content(data, ready=True)
        c = self.sh.contents.get(cid)
        if c is None:
            return
        self.e.list(c.owner, cid, price)
        seller = c.owner
        self.e.pay(buyer, price, purpose="buy", content=cid)
        assert c.owner == (buyer if buyer != seller else seller)

    @rule(seconds=st.sampled_from([0.5, 1, 2.5, 6]))
    def time_passes(self, seconds):
        self.e.run(seconds)

    @rule(blocks=st.integers(1, 3))
    def blocks(self, blocks):
        self.e.chain_height += blocks
        self.e.run(2.1)

    @rule()
    def restart(self):
        """The server stops and starts: the state comes back from the journal,
        and the viewers it believed connected are told they are gone."""
        fresh = core.new_state(self.e.config, world="w")
        replay(fresh, self.e.journal, self.e.tick)
        assert state_hash(fresh) == self.e.hash()
        self.e.state = fresh
        gone = core.MODES["meme"].waiting_wallets(self.sh)
        self.e.step(*(I.PlayerDisconnected(w) for w in gone))
        assert not self.sh.views

    @invariant()
    def money_is_conserved(self):
        if not hasattr(self, "e"):
            return
        sh, e = self.sh, self.e
        assert e.escrow() == e.owed_by_escrow()
        assert sh.charged == sh.direct + sh.pooled
        assert sh.direct == sh.direct_paid + sum(sh.owed.values())
        assert sh.pooled == sh.pool_paid + (sh.round.pool if sh.round else 0)
        assert sum(e.accounts.values()) == 0
        for w, balance in sh.balances.items():
            assert 0 <= balance <= self.deposits.get(w, 0)
        for key, s in e.settles.items():
            if key.startswith("pool:") and key not in self.paid_pools:
                self.paid_pools.add(key)
                ended = [x for x in e.events_of("round:ended") if f"pool:{x['round']}" == key]
                assert len(ended) == 1 and sum(t.amount for t in s.transfers) == ended[0]["pool"]
        for view in sh.views.values():
            assert view.charged == view.seconds * view.rate

    def teardown(self):
        if hasattr(self, "e"):
            assert self.e.replayed_hash() == self.e.hash()


MemeMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
test_meme_machine = MemeMachine.TestCase
