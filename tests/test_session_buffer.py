"""Per-session event buffer: capped by count and by bytes, replay or nothing."""

import msgpack

from arena.net.codec import event_tail
from arena.net.session import Session


def _events(s: Session, n: int, size: int = 50):
    for i in range(n):
        s.push_event(event_tail("e", {"i": i, "pad": "x" * size}))


def test_replays_exactly_the_missed_events_in_order():
    s = Session("W", buffer_size=100, buffer_bytes=1 << 20)
    _events(s, 10)
    missed = s.missed_since(6)
    assert [msgpack.unpackb(e)[1] for e in missed] == [7, 8, 9, 10]
    assert [msgpack.unpackb(e)[3]["i"] for e in missed] == [6, 7, 8, 9]
    assert s.missed_since(10) == [] and len(s.missed_since(0)) == 10


def test_count_cap():
    s = Session("W", buffer_size=4, buffer_bytes=1 << 20)
    _events(s, 10)
    assert s.buffered <= 4
    assert s.missed_since(5) is None  # event 6 is gone: the caller sends snapshots instead
    assert [msgpack.unpackb(e)[1] for e in s.missed_since(7)] == [8, 9, 10]


def test_byte_cap_bounds_memory_however_many_events():
    s = Session("W", buffer_size=2048, buffer_bytes=1000)
    _events(s, 5000, size=60)
    assert s.tail_bytes <= 1000
    assert 1000 * 3 // 4 - 100 <= s.tail_bytes  # trimmed to 3/4 in bursts, never far below
    assert s.tail_bytes == sum(len(t) for t in s.tails)
    kept = s.buffered
    got = s.missed_since(5000 - kept)
    assert [msgpack.unpackb(e)[1] for e in got] == list(range(5001 - kept, 5001))
    assert s.missed_since(5000 - kept - 1) is None


def test_an_event_bigger_than_the_cap_is_sent_but_not_kept():
    s = Session("W", buffer_size=10, buffer_bytes=100)

    class Conn:
        def __init__(self):
            self.outbox = []
            self.gateway = type("G", (), {"dirty": []})()

    s.conn = Conn()
    s.push_event(event_tail("big", {"pad": "y" * 500}))
    assert len(s.conn.outbox) == 1 and s.seq == 1
    assert s.missed_since(0) is None
    s.push_event(event_tail("small", {}))
    assert [msgpack.unpackb(e)[2] for e in s.missed_since(1)] == ["small"]


async def test_resume_over_the_wire_replays_missed_events(arena_server):
    from arena.client import open_client
    from conftest import player

    server, url = await arena_server()
    async with player(url) as a, player(url) as b:
        await a.queue("bronze")
        await b.queue("bronze")
        _, found = await a.next_event("match.found")
        session, wallet = a.session, a.wallet
        keypair = a.keypair
    # `a` is gone; the session stays resumable and holds match.found (seq 1).
    async with open_client(url, keypair=keypair) as a2:
        reply = await a2.resume(session, last_seq=0)
        assert reply == {"resumed": True, "replayed": 1}
        _, again = await a2.next_event("match.found")
        assert again == found and a2.last_seq == 1 and a2.seq_gaps == []
        assert a2.wallet == wallet


class _Conn:
    """What push_event touches of a connection: its outbox and the gateway's dirty list."""

    def __init__(self):
        self.outbox = []
        self.gateway = type("G", (), {"dirty": []})()


def test_sent_envelopes_carry_their_seq_in_every_integer_width():
    s = Session("W", buffer_size=8, buffer_bytes=1 << 16)
    s.conn = conn = _Conn()
    tail = event_tail("e", {"k": 1})
    for _ in range(70_000):
        s.push_event(tail)
    assert conn.gateway.dirty == [conn]  # queued once, when its outbox went non-empty
    for seq in (1, 127, 128, 255, 256, 65_535, 65_536, 70_000):
        assert msgpack.unpackb(conn.outbox[seq - 1]) == [2, seq, "e", {"k": 1}]
