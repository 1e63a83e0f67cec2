"""Three `python -m arena serve` processes acting as one cluster through Redis.

Each node is its own world (its own PostgreSQL schema under its own writer
lease, its own port); all three share one Redis key prefix. Players logged
in on different nodes queue for a roast battle and are paired by the shared
queue; the node that pops the pair holds the battle, and the player who is
connected elsewhere gets a seat reservation in `match.found`, connects to
the owner, claims the seat (`auth.seat`) and plays the battle to its payout
there. A tip sent on one node reaches its receiver on another. The node
holding a battle is killed with `kill -9` mid-round while players are also
queued through it: its standby (same world, another name) takes the world
over, the match directory names the standby, the battle's players find it
there (`match.locate` on any live node), resume their sessions and finish
the battle, paid once; the queued players are stranded nowhere: the dead
node's entries are never paired, and its players queue again elsewhere.

Money: the embedded ledger's book is per world (SIMULATED play money); a
player seated on another node funds itself there with that world's faucet
(docs/SCALING.md, "Entry fees across worlds").
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
import trio
from solders.keypair import Keypair

from arena.client import ArenaRequestError, open_client
from crash_harness import FAUCET, ROOT, ServerProcess, _leaves, _recoverable, free_port, write_config

pytestmark = pytest.mark.slow

HEARTBEAT_MS = 300  # registry entries live 900 ms unless refreshed


@pytest.fixture
def cluster_services():
    import services

    pg = services.require("postgres")
    redis = services.require("redis")
    schemas = [services.unique_name() for _ in range(3)]
    prefix = services.unique_name("arena-t") + ":"
    yield pg, schemas, redis, prefix
    for s in schemas:
        services.drop_schema(pg, s)
    services.redis_cleanup(redis, prefix)


def node(tmp_path, name, dsn, redis, prefix) -> ServerProcess:
    folder = tmp_path / name
    folder.mkdir()
    port = free_port()
    extra = (f'\n[cluster]\nnode = "{name}"\nlease_ttl_ms = 2000\nheartbeat_ms = {HEARTBEAT_MS}\n'
             f'seat_ttl_ms = 20000\n\n[redis]\nurl = "{redis}"\nkey_prefix = "{prefix}"\n')
    config = write_config(folder, port, {"kind": "postgres", "dsn": dsn}, extra=extra)
    out = subprocess.run([sys.executable, "-m", "arena", "migrate", "--config", str(config)],
                         cwd=str(ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return ServerProcess(config, port, folder)


class Player:
    """A roast player of the cluster: logs in at home, queues, follows
    `match.found` (claiming the seat when it names another node) and plays
    the battle to its end; when the node holding the battle dies, it asks
    any live node where the battle is now (`match.locate`, the directory)
    and resumes its session there."""

    def __init__(self, name: str, nodes: list | None = None):
        self.name = name
        self.nodes = nodes or []  # where to ask for the battle's owner after a loss
        self.keypair = Keypair()
        self.wallet = str(self.keypair.pubkey())
        self.ended: dict | None = None
        self.owner_url: str | None = None
        self.balance_after: int | None = None
        self.seated = False
        self.session: str | None = None
        self.last_seq = 0
        self.moves = 0
        self.recording = trio.Event()  # a round of its battle is recording
        self.events: list = []

    def roast(self, rnd: int) -> str:
        if self.name.endswith("a"):
            return "meh"
        return (f"Round {rnd}: your comebacks are so weak even your echo gives up halfway; "
                "your style is a 404 and your confidence is a typo!")

    async def play(self, home_url: str, tier: str = "bronze") -> None:
        match = None
        try:
            async with open_client(home_url, keypair=self.keypair) as home:
                await home.hello()
                await home.login()
                assert await home.queue(tier) == {"queued": True}
                _, found = await home.next_event("match.found", timeout=30)
                match = found["match"]
                seat = found.get("seat")
                if seat is None:  # the battle is on this node
                    self.owner_url, self.session = home_url, home.session
                    await self._battle(home, match, fund=True)
                    return
                self.seated = True
                self.owner_url = seat["url"]
                assert seat["url"] != home_url and seat["expires_at_ms"] > 0
                async with open_client(seat["url"], keypair=self.keypair) as there:
                    reply = await there.claim_seat(seat["token"])
                    assert reply["match"] == match and reply["user"]["wallet"] == self.wallet
                    self.session = reply["session"]
                    await self._battle(there, match, fund=True)
                    return
        except BaseException as exc:
            if match is None or self.session is None or not all(_recoverable(x) for x in _leaves(exc)):
                raise
        # The node holding the battle died: find its new owner and resume there.
        while self.ended is None:
            url = await self._locate(match)
            try:
                async with open_client(url, keypair=self.keypair) as c:
                    await c.resume(self.session, self.last_seq)
                    self.moves += 1
                    self.owner_url = url
                    await self._battle(c, match, fund=False)
            except BaseException as exc:
                if not all(_recoverable(x) for x in _leaves(exc)):
                    raise
                await trio.sleep(0.2)

    async def _locate(self, match: str) -> str:
        """The URL the directory gives for `match`, asked of any live node
        (the entry vanishes with its dead owner's heartbeat and comes back
        when the successor has taken the world over)."""
        while True:
            for node in self.nodes:
                try:
                    async with open_client(node.url, keypair=self.keypair, connect_timeout=2) as c:
                        await c.hello()
                        await c.login()
                        found = await c.locate(match)
                        try:
                            async with open_client(found["url"], connect_timeout=2):
                                return found["url"]  # it answers: the owner is up
                        except BaseException as exc:
                            if not all(_recoverable(x) for x in _leaves(exc)):
                                raise
                except ArenaRequestError as exc:
                    assert exc.code == "not_found", exc  # between the old owner and the new one
                except BaseException as exc:
                    if not all(_recoverable(x) for x in _leaves(exc)):
                        raise
            await trio.sleep(0.3)

    async def _battle(self, c, match: str, fund: bool) -> None:
        if fund:
            await c.faucet()  # SIMULATED money of the owning world's embedded ledger
        try:
            while True:
                self.last_seq = max(self.last_seq, c.last_seq)
                try:
                    await c.watch(match)
                except ArenaRequestError as exc:
                    assert exc.code == "not_found", exc
                    break
                _, snap = await c.next_event("match.snapshot", match=match, timeout=10)
                st = snap["state"]
                if st["phase"] == "entry" and self.wallet not in st["paid"]:
                    try:
                        await c.pay_entry(match)
                    except ArenaRequestError as exc:  # a snapshot from before its confirm
                        assert exc.code in ("duplicate", "wrong_state"), exc
                elif st["phase"] == "recording":
                    self.recording.set()
                    if self.wallet not in st["submitted"]:
                        try:
                            await c.submit(match, st["round"], self.roast(st["round"]))
                        except ArenaRequestError as exc:
                            assert exc.code in ("wrong_state", "duplicate"), exc
                await trio.sleep(0.15)
        finally:
            self.last_seq = max(self.last_seq, c.last_seq)
            self.events += [(t, b) for t, b, _ in c.events_seen]
        for type_, body in self.events:
            if type_ == "battle:ended" and body["match"] == match:
                self.ended = body
        if self.ended is None:  # ended while this player was moving: the resume's snapshot missed it
            self.ended = {"match": match, "reason": "unseen"}
        # The payout (or a draw's refund) is carried out once the end's tick
        # is durable, a moment after battle:ended: a winner or a drawn
        # player waits for it (a loser's balance stays where the fee left it).
        balance = await c.balance()
        gets_money = self.ended["reason"] == "completed" and self.ended["winnerId"] in (None, self.wallet)
        with trio.move_on_after(10):
            while gets_money and balance == FAUCET - 100:
                await trio.sleep(0.05)
                balance = await c.balance()
        self.balance_after = balance


def check_payout(p1: Player, p2: Player) -> None:
    """Both saw the same end; the owner world's balances show it paid once."""
    assert p1.ended == p2.ended and p1.ended["reason"] == "completed", (p1.ended, p2.ended)
    fee = 100 * 2 * 500 // 10_000  # bronze pool, 5% platform fee
    total = p1.balance_after + p2.balance_after
    if p1.ended["winnerId"] is None:
        assert total == 2 * FAUCET
    else:
        assert total == 2 * FAUCET - fee and p1.ended["prizeAmount"] == 200 - fee
        winner = p1 if p1.ended["winnerId"] == p1.wallet else p2
        assert winner.balance_after == FAUCET - 100 + 200 - fee


async def start_all(nodes):
    async with trio.open_nursery() as n:
        for x in nodes:
            n.start_soon(x.start)


async def test_three_nodes_match_play_tip_and_survive_a_kill(tmp_path, cluster_services):
    pg, schemas, redis, prefix = cluster_services
    import services

    a, b, c = (node(tmp_path, name, services.dsn_with_schema(pg, s), redis, prefix)
               for name, s in zip(("a", "b", "c"), schemas))
    b2 = node(tmp_path, "b2", services.dsn_with_schema(pg, schemas[1]), redis, prefix)  # b's standby
    nodes = [a, b, c, b2]
    try:
        with trio.fail_after(240):
            await start_all([a, b, c])
            await trio.sleep(3 * HEARTBEAT_MS / 1000)  # everyone registered and subscribed

            # 1. Queued on different nodes, matched, played to a payout.
            p1, p2 = Player("p1a"), Player("p2b")
            async with trio.open_nursery() as n:
                n.start_soon(p1.play, a.url)
                await trio.sleep(0.5)  # p1 first: p2's node pops the pair and holds the battle
                n.start_soon(p2.play, b.url)
            assert p1.seated and not p2.seated  # p1 came over to p2's node, b
            assert p1.owner_url == p2.owner_url == b.url
            check_payout(p1, p2)

            # 2. A tip crosses nodes: sent on c, received by a wallet connected to a.
            tipper, tipped = Keypair(), Keypair()
            async with open_client(a.url, keypair=tipped) as on_a, open_client(c.url, keypair=tipper) as on_c:
                await on_a.hello()
                await on_a.login()
                await on_c.hello()
                await on_c.login()
                await on_c.faucet()
                await trio.sleep(0.2)
                status, amount, tip_fee = await on_c.tip(str(tipped.pubkey()), 50)
                assert status == "confirmed"
                _, tip = await on_a.next_event("tip:received", timeout=10)
                assert tip == {"from": str(tipper.pubkey()), "to": str(tipped.pubkey()), "amount": 50,
                               "fee": tip_fee}
                # its balance event too, read from the ledger of the world the tip was paid in (c's)
                _, updated = await on_a.next_event("wallet:updated", timeout=10)
                assert updated["reason"] == "tip_received" and updated["change"] == 50 - tip_fee

            # 3. kill -9 of b mid-battle, with players queued through it. b's
            # standby b2 takes b's world over; the directory names b2; the
            # battle's players find it there, resume and finish, paid once.
            p7, p8 = Player("p7a", [a, c, b2]), Player("p8b", [a, c, b2])
            stranded, waiting, p5, p6 = (Keypair() for _ in range(4))
            async with trio.open_nursery() as n:
                n.start_soon(b2.start, 120)  # a standby until b's lease expires
                n.start_soon(p7.play, c.url)
                await trio.sleep(0.5)
                n.start_soon(p8.play, b.url)  # b holds the battle; p7 is seated there
                async with open_client(b.url, keypair=stranded) as on_b_1, \
                        open_client(b.url, keypair=waiting) as on_b_2:
                    for cl, tier in ((on_b_1, "silver"), (on_b_2, "gold")):
                        await cl.hello()
                        await cl.login()
                        assert await cl.queue(tier) == {"queued": True}
                    await p7.recording.wait()
                    await p8.recording.wait()
                    b.proc.send_signal(signal.SIGKILL)  # mid-round
                    b.proc.wait()
            assert p7.seated and p7.moves >= 1 and p8.moves >= 1
            assert p7.owner_url == p8.owner_url == b2.url
            check_payout(p7, p8)
            # `waiting` reconnects through c and queues again (its old entry is dead, not a duplicate) ...
            async with open_client(c.url, keypair=waiting) as w, open_client(a.url, keypair=p5) as q5, \
                    open_client(c.url, keypair=p6) as q6:
                for cl in (w, q5, q6):
                    await cl.hello()
                    await cl.login()
                assert await w.queue("gold") == {"queued": True}
                assert await q5.queue("gold") == {"queued": True}
                _, found = await w.next_event("match.found", timeout=10)
                assert set(found["players"]) == {str(waiting.pubkey()), str(p5.pubkey())}
                # ... and `stranded`, queued through b and never back, is never paired:
                assert await q6.queue("silver") == {"queued": True}
                with trio.move_on_after(2 * HEARTBEAT_MS / 1000 + 1):
                    await q6.next_event("match.found", timeout=10)
                    raise AssertionError("paired with the player of a dead node")
    except BaseException:
        for x in nodes:
            print(x.log_tail(3000))
        raise
    finally:
        for x in nodes:
            x.kill()
