"""The platform's read tables on every store (SQLite, PostgreSQL, memory):
board points counted once, ranking and ties, pages around a wallet, match
history newest first with its cursor, a mode's history details, profiles
with unique usernames."""

from __future__ import annotations

import json

import pytest

from arena.persistence.reads import Duplicate
from arena.persistence.sqlite import SqliteStore
from arena.persistence.store import TickBatch
from test_store_contract import store  # noqa: F401 - the contract's fixture: SQLite, PostgreSQL, memory


def add(board, wallet, points, source, period="all"):
    return ("board_add", board, period, wallet, points, source)


async def test_board_points_count_once_per_source(store):
    batch = TickBatch(durable_tick=1, records=[add("b.x", "w1", 3, "1:0"), add("b.x", "w1", 2, "1:1")])
    await store.write(batch)
    await store.write(batch)  # a retried batch
    await store.write(TickBatch(durable_tick=2, records=[add("b.x", "w1", 1, "2:0")]))
    assert await store.leaderboard("b.x", "all", 10) == [{"rank": 1, "wallet": "w1", "username": None, "score": 6}]
    assert await store.leaderboard("b.x", "week:2026-11-30", 10) == []
    assert await store.leaderboard("nope", "all", 10) == []


async def test_a_week_board_starts_empty_each_week(store):
    from arena.persistence.durable import board_ops
    from arena.engine.mode import Board
    from arena.engine.outputs import Event
    from test_reads_unit import _Cfg, _State, ms

    boards = {"b.x": Board(frozenset({"won"}), lambda e: [(e.to[0], 1)])}
    won = [Event(("w1",), "won", {})]
    sunday = _State(clock=[0, ms("2026-12-06T23:59:00+00:00")], config=_Cfg())
    monday = _State(clock=[0, ms("2026-12-07T00:01:00+00:00")], config=_Cfg())
    await store.write(TickBatch(durable_tick=1, records=board_ops(boards, sunday, 1, won * 2, "UTC")))
    await store.write(TickBatch(durable_tick=2, records=board_ops(boards, monday, 2, won, "UTC")))
    assert (await store.leaderboard("b.x", "all", 10))[0]["score"] == 3
    assert (await store.leaderboard("b.x", "week:2026-11-30", 10))[0]["score"] == 2
    assert (await store.leaderboard("b.x", "week:2026-12-07", 10))[0]["score"] == 1


async def test_ranking_ties_and_pages_around_a_wallet(store):
    scores = {"wa": 5, "wb": 9, "wc": 5, "wd": 1, "we": 5, "wf": 0}
    await store.write(TickBatch(durable_tick=1, records=[add("b.x", w, s, f"1:{i}")
                                                         for i, (w, s) in enumerate(scores.items())]))
    await store.set_profile("wc", username="Cee")
    top = await store.leaderboard("b.x", "all", 10)
    # score descending, then wallet; tied scores share a rank (competition ranking)
    assert [(r["rank"], r["wallet"], r["score"]) for r in top] == [
        (1, "wb", 9), (2, "wa", 5), (2, "wc", 5), (2, "we", 5), (5, "wd", 1), (6, "wf", 0)]
    assert [r["username"] for r in top] == [None, None, "Cee", None, None, None]
    assert [r["wallet"] for r in await store.leaderboard("b.x", "all", 2)] == ["wb", "wa"]
    # around: the wallet in the middle of the page, shifted at the ends
    assert [r["wallet"] for r in await store.leaderboard("b.x", "all", 3, around="we")] == ["wc", "we", "wd"]
    assert [r["wallet"] for r in await store.leaderboard("b.x", "all", 3, around="wb")] == ["wb", "wa", "wc"]
    assert [r["wallet"] for r in await store.leaderboard("b.x", "all", 3, around="wf")] == ["we", "wd", "wf"]
    assert [r["rank"] for r in await store.leaderboard("b.x", "all", 1, around="we")] == [2]
    assert await store.leaderboard("b.x", "all", 3, around="nobody") == []
    assert await store.scores_of("wa") == {"b.x": 5}
    assert await store.scores_of("nobody") == {}


def result(match, players, tick, winner, mode="roast"):
    return ("match_result", mode, match, tuple(players), 1_700_000_000_000 + tick, tick,
            json.dumps({"winner": winner}))


async def test_history_newest_first_with_cursor_and_mode(store):
    await store.write(TickBatch(durable_tick=30, records=[
        result("m1", ["w1", "w2"], 10, "w1"),
        result("m2", ["w1", "w3"], 20, "w3"),
        result("m3", ["w1", "w2"], 20, None),
        result("c1", ["w1"], 25, "w1", mode="other"),
    ]))
    await store.write(TickBatch(durable_tick=31, records=[result("m1", ["w1", "w2"], 10, "w1")]))  # again
    rows = await store.history("w1", None, 10)
    assert [(r["match"], r["ended_tick"]) for r in rows] == [("c1", 25), ("m3", 20), ("m2", 20), ("m1", 10)]
    assert rows[-1]["result"] == {"winner": "w1"} and rows[-1]["ended_at_ms"] == 1_700_000_000_010
    assert [r["match"] for r in await store.history("w1", "roast", 10)] == ["m3", "m2", "m1"]
    assert [r["match"] for r in await store.history("w1", None, 2, before=(20, "m3"))] == ["m2", "m1"]
    assert [r["match"] for r in await store.history("w1", "roast", 10, before=(20, "m2"))] == ["m1"]
    assert [r["match"] for r in await store.history("w2", None, 10)] == ["m3", "m1"]
    assert await store.history("w9", None, 10) == []


async def test_a_modes_history_details(store):
    bd = json.dumps({"creativity": 1, "delivery": 2, "relevance": 3, "savagery": 4})
    await store.write(TickBatch(durable_tick=5, records=[
        ("mode_op", "roast", ("battle", "ro-1", "roast", "bronze", "w1", "w2", 100, 1)),
        ("mode_op", "roast", ("prompt", "ro-1", 1, "Roast their haircut", 2)),
        ("mode_op", "roast", ("clip", "ro-1", 1, "w1", "file:///a.webm", 3)),
        ("mode_op", "roast", ("round", "ro-1", 1, "w1", 10, bd, "Ouch.", 4)),
        ("mode_op", "roast", ("round", "ro-1", 1, "w2", 0, bd, "None.", 4)),
        ("mode_op", "roast", ("round", "ro-2", 1, "w3", 7, bd, "Other.", 4)),
        ("mode_op", "roast", ("tip", "ro-1", "w9", "w1", 100, 2, 4)),
        ("mode_op", "roast", ("tip", "ro-2", "w9", "w3", 50, 1, 4)),
    ]))
    got = await store.history_details("roast", ["ro-1"])
    tips = [(r["match"], r["player"], r["to_wallet"], r["amount"], r["fee"]) for r in got if r["kind"] == "tip"]
    assert tips == [("ro-1", "w9", "w1", 100, 2)]
    rows = [r for r in got if r["kind"] == "round"]
    assert [(r["match"], r["round"], r["player"], r["score"], r["prompt"], r["clip"]) for r in rows] == [
        ("ro-1", 1, "w1", 10, "Roast their haircut", "file:///a.webm"),
        ("ro-1", 1, "w2", 0, "Roast their haircut", None)]
    assert json.loads(rows[0]["breakdown"])["savagery"] == 4
    assert await store.history_details("roast", []) == []
    assert await store.history_details("nosuchmode", ["ro-1"]) == []


async def test_profiles_and_unique_usernames(store):
    assert await store.profile("w1") is None
    p = await store.set_profile("w1", username="Alice")
    assert p == {"wallet": "w1", "username": "Alice", "avatar_url": None}
    p = await store.set_profile("w1", avatar_url="file:///x.png")  # the username is kept
    assert p == {"wallet": "w1", "username": "Alice", "avatar_url": "file:///x.png"}
    assert await store.profile("w1") == p
    for taken in ("Alice", "alice", "ALICE"):
        with pytest.raises(Duplicate):
            await store.set_profile("w2", username=taken, avatar_url="file:///y.png")
    assert await store.profile("w2") is None  # nothing of it was written
    assert (await store.set_profile("w1", username="alice"))["username"] == "alice"  # its own name, recased
    await store.set_profile("w1", username="Alicia")
    assert (await store.set_profile("w2", username="Alice"))["username"] == "Alice"  # free again


async def test_a_version_4_sqlite_store_migrates_to_5_and_keeps_its_rows(tmp_path):
    import sqlite3

    from arena.persistence import schema
    from arena.modes.roast.tables import SQLITE_1

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    for _version, statements in schema.SQLITE[:4]:
        for sql in statements:
            db.execute(sql)
    for sql in SQLITE_1:
        db.execute(sql)
    db.execute("INSERT INTO mode_migrations (mode, version) VALUES ('roast', 1)")
    db.execute("INSERT INTO battles (id, mode, tier, player1, player2, entry_fee, status, started_tick)"
               " VALUES ('ro-old', 'roast', 'bronze', 'w1', 'w2', 100, 'ended', 1)")
    db.execute("PRAGMA user_version=4")
    db.commit()
    db.close()
    s = SqliteStore(path)
    await s.open()
    try:
        assert await s.schema_version() == 5
        assert [b["id"] for b in await s.query("battles")] == ["ro-old"]
        await s.write(TickBatch(durable_tick=2, records=[add("roast.wins", "w1", 1, "2:0"),
                                                         ("mode_op", "roast", ("prompt", "ro-old", 1, "p", 2))]))
        assert (await s.leaderboard("roast.wins", "all", 10))[0]["score"] == 1
        assert await s.migrate() == []
    finally:
        await s.close()
