"""Unit tests of the engine core and each callback of the roast mode.

Everything goes through `arena.engine.core.step` via the shared driver
(`tests/engine_driver.py`), which plays the side tasks: prompts, scores, and a
double-entry ledger for the `Settle` effects. Timings use `fast_config()`:
20 ticks a second, countdown 2 ticks, recording 10, entry deadline 20,
disconnect grace 6, scoring timeout 8, prompt timeout 10.
"""

from __future__ import annotations

import attrs
import msgpack
import pytest

from arena.engine import inputs as I
from arena.modes.roast import messages as R
from arena.engine.config import settings_pairs as roast_settings
from arena.modes.roast.settings import RoastConfig
from arena.modes.roast.mode import match_terms
from arena.engine.canonical import state_hash
from arena.engine.core import entry_quote, matches_of, snapshot_event
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle, Transfer
from arena.modes.roast.messages import GeneratePrompt, ScoreRoast

try:
    from tests.engine_driver import DIMENSIONS, Driver, Ledger, fast_config, replay
except ImportError:  # tests/ on sys.path (no package)
    from engine_driver import DIMENSIONS, Driver, Ledger, fast_config, replay

FEE = 100  # the default bronze entry fee


def ok(reply, body=None):
    assert reply.ok, reply.body
    if body is not None:
        assert reply.body == body
    return reply


def err(reply, code):
    assert not reply.ok, f"expected {code}, got ok {reply.body}"
    assert reply.body["code"] == code, reply.body
    assert isinstance(reply.body["message"], str) and reply.body["message"]
    return reply


def transfers(settle: Settle) -> set:
    return {(t.source, t.dest, t.amount) for t in settle.transfers}


def ended(d: Driver, mid: str) -> list:
    return d.events("battle:ended", match=mid)


# --- matchmaking -------------------------------------------------------------------


def test_fifo_matchmaking_first_two_in_a_tier_meet():
    d = Driver()
    ja, jb, jc = d.queue_join("a"), d.queue_join("b"), d.queue_join("c")
    ok(d.do(ja), {"queued": True})
    assert d.events("match.found") == []
    ok(d.do(jb), {"queued": True})
    found = d.events("match.found")
    assert [e.to for e in found] == [("a",), ("b",)]
    assert found[0].body["players"] == ["a", "b"]
    ok(d.do(jc), {"queued": True})
    assert len(d.events("match.found")) == 2  # c waits
    out = d.step(d.queue_join("d"))
    assert out.event("match.found", to="c").body["players"] == ["c", "d"]


def test_fifo_within_one_tick_keeps_input_order():
    d = Driver()
    out = d.step(*(d.queue_join(w) for w in ("a", "b", "c")))
    assert [r.body for r in out.replies] == [{"queued": True}] * 3
    (m1,) = {e.body["match"] for e in out.events("match.found")}
    assert d.state.matches[m1].players == ["a", "b"]
    assert d.state.modes["roast"].queued == {"c": "bronze"}


def test_tiers_do_not_mix():
    d = Driver()
    out = d.step(d.queue_join("a", "bronze"), d.queue_join("b", "silver"), d.queue_join("c", "gold"),
                 d.queue_join("e", "diamond"))
    assert out.events("match.found") == []
    out = d.step(d.queue_join("f", "silver"))
    ev = out.event("match.found", to="b")
    assert ev.body["players"] == ["b", "f"] and ev.body["tier"] == "silver"
    assert d.state.modes["roast"].queued == {"a": "bronze", "c": "gold", "e": "diamond"}


def test_queue_join_errors():
    d = Driver()
    err(d.do(d.queue_join("a", "platinum")), "bad_request")
    err(d.do(d.queue_join("a", "")), "bad_request")
    err(d.do(d.queue_join("a", "bronze", mode="chess")), "bad_request")
    ok(d.do(d.queue_join("a", "gold")))
    err(d.do(d.queue_join("a", "gold")), "duplicate")
    err(d.do(d.queue_join("a", "silver")), "duplicate")
    mid = d.matchmake("p", "q")
    err(d.do(d.queue_join("p", "bronze")), "wrong_state")
    err(d.do(d.queue_join("q", "silver")), "wrong_state")
    assert mid in d.state.matches
    assert d.state.modes["roast"].queued == {"a": "gold"}


def test_queue_leave():
    d = Driver()
    ok(d.do(d.queue_join("a")))
    ok(d.do(d.queue_leave("a")), {"queued": False})
    ok(d.do(d.queue_leave("a")), {"queued": False})  # not queued: still fine
    ok(d.do(d.queue_join("b")))
    assert d.events("match.found") == []
    ok(d.do(d.queue_join("a")))  # may queue again, now behind b
    assert d.events("match.found", to="b")[0].body["players"] == ["b", "a"]


def test_queue_leave_while_in_battle_leaves_the_battle_alone():
    d = Driver()
    mid = d.matchmake()
    ok(d.do(d.queue_leave("alice")), {"queued": False})
    assert d.phase(mid) == "entry"


def test_match_found_bodies():
    cfg = fast_config(tiers={"bronze": 7, "silver": 11, "gold": 13, "diamond": 17}, entry_deadline_ms=2_500)
    d = Driver(cfg)
    out = d.step(d.queue_join("a", "silver"), d.queue_join("b", "silver"))
    ea, eb = out.event("match.found", to="a"), out.event("match.found", to="b")
    assert ea.to == ("a",) and eb.to == ("b",)
    mid = ea.body["match"]
    assert ea.body == {
        "match": mid, "mode": "roast", "tier": "silver", "players": ["a", "b"], "opponent": "b",
        "entry_fee": 11, "entry_deadline_ms": 2_500,
    }
    assert eb.body == {**ea.body, "opponent": "a"}
    assert mid.startswith("ro-")
    # round 1's prompt is asked for at once
    (gp,) = out.of(GeneratePrompt)
    assert (gp.key, gp.match, gp.round, gp.used) == (f"prompt:{mid}:1", mid, 1, ())
    assert d.state.matches[mid].deadline == d.tick + cfg.ticks(2_500)
    assert matches_of(d.state, "a") == [mid]
    assert entry_quote(d.state, mid, "a") == 11


def test_match_ids_are_distinct():
    d = Driver()
    ids = {d.matchmake(f"a{i}", f"b{i}") for i in range(20)}
    assert len(ids) == 20


def test_entry_quote_errors():
    d = Driver()
    mid = d.matchmake()
    with pytest.raises(ArenaError) as e:
        entry_quote(d.state, mid, "carol")
    assert e.value.code == "not_allowed"
    d.step(d.pay(mid, "alice"))
    with pytest.raises(ArenaError) as e:
        entry_quote(d.state, mid, "alice")
    assert e.value.code == "duplicate"
    with pytest.raises(ArenaError) as e:
        entry_quote(d.state, "ro-nope", "alice")
    assert e.value.code == "not_found"
    d.step(d.pay(mid, "bob"))
    with pytest.raises(ArenaError) as e:
        entry_quote(d.state, mid, "bob")
    assert e.value.code == "duplicate"


# --- entry ------------------------------------------------------------------------------


def test_both_fees_paid_start_round_one_with_prompt():
    d = Driver(prompt_text="Roast the haircut")
    mid = d.matchmake()
    pa, pb = d.pay(mid, "alice"), d.pay(mid, "bob")
    out = d.step(pa)  # the prompt arrives this tick too (fed first)
    conf = out.event("entry.confirmed")
    assert conf.to == ("alice", "bob") and conf.body == {"match": mid, "player": "alice"}
    assert out.events("battle:round_start") == []
    assert d.phase(mid) == "entry"
    out = d.step(pb)
    assert out.event("entry.confirmed").body["player"] == "bob"
    rs = out.event("battle:round_start")
    assert rs.to == ("alice", "bob")
    assert rs.body == {
        "match": mid, "roundNumber": 1, "prompt": "Roast the haircut (round 1)", "timeLimit": 500, "countdown": 100,
    }
    assert d.phase(mid) == "countdown"
    # round 2's prompt is asked for as round 1 starts, listing the used prompt
    (gp,) = out.of(GeneratePrompt)
    assert gp.round == 2 and gp.used == ("Roast the haircut (round 1)",)
    assert out.settles == []


def test_fees_paid_before_the_prompt_wait_for_it():
    d = Driver(prompts=False)
    mid = d.matchmake()
    out = d.step(d.pay(mid, "alice"), d.pay(mid, "bob"))
    assert out.events("battle:round_start") == []
    assert d.phase(mid) == "waiting_prompt"
    out = d.step(R.PromptGenerated(mid, 1, "late prompt"))
    assert out.event("battle:round_start").body["prompt"] == "late prompt"
    # a prompt for a round out of range, or a repeat, changes nothing
    d.step(R.PromptGenerated(mid, 9, "x"), R.PromptGenerated(mid, 0, "y"), R.PromptGenerated(mid, 1, "again"))
    assert d.state.matches[mid].prompts == {1: "late prompt"}


def test_prompt_timeout_cancels_and_refunds():
    d = Driver(prompts=False)
    mid = d.matchmake()
    d.step(d.pay(mid, "alice"), d.pay(mid, "bob"))
    paid_tick = d.tick
    out = d.advance(9)
    assert ended(d, mid) == []
    out = d.step()
    assert d.tick == paid_tick + 10
    e = out.event("battle:ended")
    assert e.body["reason"] == "cancelled" and e.body["winnerId"] is None and e.body["prizeAmount"] == 0
    (s,) = out.settles
    assert s.key == f"refund:{mid}" and s.reason == "cancelled"
    assert transfers(s) == {(f"escrow:{mid}", "alice", FEE), (f"escrow:{mid}", "bob", FEE)}


def test_entry_deadline_cancels_and_refunds_confirmed_fees_only():
    d = Driver()
    mid = d.matchmake()
    created = d.tick
    d.step(d.pay(mid, "alice"))
    d.advance(20 - 2)
    assert d.tick == created + 19 and ended(d, mid) == []
    out = d.step()  # the deadline tick
    e = out.event("battle:ended")
    assert e.to == ("alice", "bob")
    assert e.body == {"match": mid, "winnerId": None, "finalScores": {"player1": 0, "player2": 0},
                      "prizeAmount": 0, "reason": "cancelled"}
    (s,) = out.settles
    assert s.key == f"refund:{mid}" and s.match == mid and s.reason == "cancelled"
    assert s.transfers == (Transfer(f"escrow:{mid}", "alice", FEE),)
    d.advance(1)  # settlement applied and reported
    assert d.ledger.escrows() == {}
    assert d.ledger.balance("alice") == d.funds
    assert d.state.unsettled == {}
    assert mid not in d.state.matches and d.state.bindings == {}
    # both may queue again
    ok(d.do(d.queue_join("alice")))
    ok(d.do(d.queue_join("bob")))


def test_entry_deadline_with_no_fee_paid_settles_nothing():
    d = Driver()
    mid = d.matchmake()
    out = d.advance(25)
    assert out.event("battle:ended").body["reason"] == "cancelled"
    assert out.settles == []
    assert d.state.unsettled == {}


def test_fee_paid_on_the_deadline_tick_still_counts():
    d = Driver()
    mid = d.matchmake()
    d.step(d.pay(mid, "alice"))
    deadline = d.state.matches[mid].deadline
    out = d.step(d.pay(mid, "bob"), tick=deadline)
    assert out.events("battle:ended") == []
    assert out.event("battle:round_start").body["roundNumber"] == 1


def test_wrong_amount_is_refunded_and_not_counted():
    d = Driver()
    mid = d.matchmake()
    p = d.pay(mid, "alice", 99, payment_id="tx-short")
    out = d.step(p)
    assert out.events("entry.confirmed") == []
    (s,) = out.settles
    assert s.key == "refund:tx-short" and s.reason == "payment_not_accepted"
    assert s.transfers == (Transfer(f"escrow:{mid}", "alice", 99),)
    assert d.state.matches[mid].paid == {}
    out = d.step(d.pay(mid, "alice", FEE + 1, payment_id="tx-long"))
    assert [x.key for x in out.settles] == ["refund:tx-long"]
    out = d.step(d.pay(mid, "alice"))
    assert out.event("entry.confirmed").body["player"] == "alice" and out.settles == []


def test_duplicate_late_and_stranger_payments_are_refunded_by_payment_id():
    d = Driver()
    mid = d.matchmake()
    d.step(d.pay(mid, "alice", payment_id="a1"))
    out = d.step(d.pay(mid, "alice", payment_id="a2"))  # a second, real payment
    assert [(s.key, s.reason) for s in out.settles] == [("refund:a2", "payment_not_accepted")]
    assert out.events("entry.confirmed") == []
    out = d.step(d.pay(mid, "mallory", payment_id="m1"))
    assert [(s.key, transfers(s)) for s in out.settles] == [("refund:m1", {(f"escrow:{mid}", "mallory", FEE)})]
    d.step(d.pay(mid, "bob", payment_id="b1"))
    assert d.phase(mid) == "countdown"
    out = d.step(d.pay(mid, "bob", payment_id="b2"))  # late: the battle is under way
    assert [s.key for s in out.settles] == ["refund:b2"]
    assert d.state.matches[mid].paid == {"alice": "a1", "bob": "b1"}
    d.advance(1)
    assert d.ledger.balance(f"escrow:{mid}") == 2 * FEE
    assert d.ledger.balance("mallory") == d.funds
    assert d.ledger.balance("alice") == d.funds - FEE


def test_payment_for_an_unknown_or_ended_match_is_refunded():
    d = Driver()
    out = d.step(d.pay("ro-nosuch", "alice", 42, payment_id="p-x"))
    (s,) = out.settles
    assert (s.key, s.match, s.reason) == ("refund:p-x", "ro-nosuch", "late_payment")
    assert s.transfers == (Transfer("escrow:ro-nosuch", "alice", 42),)
    assert out.messages == []
    mid = d.matchmake()
    d.advance(25)  # cancelled at the entry deadline
    assert mid not in d.state.matches
    out = d.step(d.pay(mid, "bob", FEE, payment_id="p-late"))
    (s,) = out.settles
    assert (s.key, s.reason, transfers(s)) == ("refund:p-late", "late_payment", {(f"escrow:{mid}", "bob", FEE)})
    d.advance(1)
    assert d.ledger.escrows() == {}
    assert d.state.unsettled == {}


def test_settlement_done_bookkeeping():
    d = Driver(settle=False)
    out = d.step(d.pay("ro-gone", "alice", 5, payment_id="z"))
    assert d.state.unsettled == {"refund:z": "ro-gone"}
    d.step(I.SettlementDone("refund:z", ok=False, detail="ledger down"))
    assert d.state.unsettled == {"refund:z": "ro-gone"}
    d.step(I.SettlementDone("refund:z"))
    assert d.state.unsettled == {}
    d.step(I.SettlementDone("refund:unknown"))  # harmless
    assert d.state.unsettled == {}


# --- rounds -------------------------------------------------------------------------------


def test_countdown_then_recording():
    d = Driver()
    mid = d.start(recording=False)
    start = d.tick
    assert d.phase(mid) == "countdown"
    err(d.do(d.submit("alice", mid, 1)), "wrong_state")  # submit before recording
    assert d.tick == start + 1 and d.phase(mid) == "countdown"
    d.step()
    assert d.tick == start + 2 and d.phase(mid) == "recording"
    assert d.state.matches[mid].deadline == d.tick + 10


def test_submit_rules():
    d = Driver(fast_config(max_text_chars=20))
    mid = d.start()
    err(d.do(d.submit("alice", mid, 2)), "wrong_state")  # wrong round
    err(d.do(d.submit("alice", mid, 0)), "wrong_state")
    err(d.do(d.submit("carol", mid, 1)), "not_allowed")  # not a player
    ok(d.do(d.watch("carol", mid)))
    err(d.do(d.submit("carol", mid, 1)), "not_allowed")  # watching is not playing
    err(d.do(d.submit("alice", mid, 1, text="x" * 21)), "bad_request")  # over-long
    err(d.do(d.submit("alice", "ro-nosuch", 1)), "not_found")
    r = d.do(d.submit("alice", mid, 1, text="y" * 20))  # exactly the limit
    ok(r, {})
    err(d.do(d.submit("alice", mid, 1)), "duplicate")
    assert d.phase(mid) == "recording"


def test_roast_submitted_event():
    d = Driver()
    mid = d.start()
    ok(d.do(d.watch("carol", mid)))
    sub = d.submit("alice", mid, 1, text="hi", audio_url="media://a.ogg")
    out = d.step(sub)
    ev = out.event("battle:roast_submitted")
    assert ev.to == ("alice", "bob", "carol")
    assert ev.body == {"match": mid, "playerId": "alice", "audioUrl": "media://a.ogg", "timestamp": sub.at_ms}
    assert out.of(ScoreRoast) == []  # bob has not submitted: the window stays open


def test_both_submissions_close_the_window_early_and_ask_for_scores():
    d = Driver(scores=None, prompt_text="P")
    mid = d.start()
    t = d.tick
    out = d.play_round(mid, {"alice": "roast A", "bob": "roast B"})
    assert d.tick == t + 1 and d.phase(mid) == "scoring"
    sr = out.of(ScoreRoast)
    assert [(e.key, e.match, e.round, e.wallet, e.prompt, e.text) for e in sr] == [
        (f"score:{mid}:1:alice", mid, 1, "alice", "P (round 1)", "roast A"),
        (f"score:{mid}:1:bob", mid, 1, "bob", "P (round 1)", "roast B"),
    ]
    assert out.events("battle:score_revealed") == []
    err(d.do(d.submit("alice", mid, 1)), "wrong_state")  # closed


def test_submission_on_the_recording_deadline_tick_counts():
    d = Driver(scores=None)
    mid = d.start()
    deadline = d.state.matches[mid].deadline
    out = d.step(d.submit("alice", mid, 1), tick=deadline)
    ok(d.reply_to(d.log[-1][1][-1]))
    assert [e.wallet for e in out.of(ScoreRoast)] == ["alice"]
    assert d.phase(mid) == "scoring"


def test_missing_submission_scores_zero_and_window_closes_at_time_limit():
    d = Driver(scores=(7, 6, 5, 4))
    mid = d.start()
    t = d.tick
    d.step(d.submit("alice", mid))
    out = d.advance(8)
    assert d.phase(mid) == "recording" and out.of(ScoreRoast) == []
    out = d.step()
    assert d.tick == t + 10 and d.phase(mid) == "scoring"
    assert [e.wallet for e in out.of(ScoreRoast)] == ["alice"]
    out = d.step()  # alice's score arrives: both revealed
    revealed = {e.body["playerId"]: e.body for e in out.events("battle:score_revealed")}
    assert revealed["alice"]["score"] == 22
    assert revealed["bob"]["score"] == 0
    assert revealed["bob"]["breakdown"] == dict.fromkeys(DIMENSIONS, 0)
    assert revealed["bob"]["commentary"]


def test_blank_text_without_audio_scores_zero_without_the_judge():
    d = Driver(scores=None)
    mid = d.start()
    out = d.play_round(mid, {"alice": "   \n", "bob": "real roast"})
    assert [e.wallet for e in out.of(ScoreRoast)] == ["bob"]
    assert d.state.matches[mid].scores["alice"]["score"] == 0
    # blank text with audio goes to the judge
    d2 = Driver(scores=None)
    mid2 = d2.start()
    subs = [d2.submit("alice", mid2, text="", audio_url="media://x"), d2.submit("bob", mid2, text="")]
    out = d2.step(*subs)
    assert [e.wallet for e in out.of(ScoreRoast)] == ["alice"]


def test_scores_are_revealed_together_with_breakdown():
    d = Driver(scores=None)
    mid = d.start()
    ok(d.do(d.watch("carol", mid)))
    out = d.play_round(mid)
    sa, sb = out.of(ScoreRoast)
    out = d.step(R.RoastScored(mid, 1, "alice", 9, 8, 7, 6, "sharp", judge="j"))
    assert out.events("battle:score_revealed") == []
    out = d.step(R.RoastScored(mid, 1, "bob", 15, -3, 2, 1, "meh", judge="j"))  # clamped to 0..10
    revealed = out.events("battle:score_revealed")
    assert [e.body["playerId"] for e in revealed] == ["alice", "bob"]
    assert all(e.to == ("alice", "bob", "carol") for e in revealed)
    a, b = (e.body for e in revealed)
    assert a == {"match": mid, "roundNumber": 1, "playerId": "alice", "score": 30,
                 "breakdown": {"savagery": 9, "creativity": 8, "delivery": 7, "relevance": 6}, "commentary": "sharp"}
    assert b["breakdown"] == {"savagery": 10, "creativity": 0, "delivery": 2, "relevance": 1}
    for body in (a, b):
        assert body["score"] == sum(body["breakdown"].values())
        assert all(0 <= v <= 10 for v in body["breakdown"].values())
    # round 2 begins at once (its prompt came long ago)
    assert out.event("battle:round_start").body["roundNumber"] == 2
    assert d.state.matches[mid].totals == {"alice": 30, "bob": 13}


def test_a_score_of_the_wrong_types_scores_zero_and_never_stops_the_tick():
    d = Driver(scores=None)
    mid = d.start()
    d.play_round(mid)
    d.step(R.RoastScored(mid, 1, "alice", "lots", None, 3.5, 7, 12345, judge=None))
    out = d.step(R.RoastScored(mid, 1, "bob", 1, 2, 3, 4, "fine", judge="j"))
    a, _ = (e.body for e in out.events("battle:score_revealed"))
    assert a["breakdown"] == {"savagery": 0, "creativity": 0, "delivery": 0, "relevance": 7}
    assert a["score"] == 7 and a["commentary"] == ""


def test_repeated_late_or_foreign_scores_are_ignored():
    d = Driver(scores=None)
    mid = d.start()
    d.play_round(mid)
    d.step(R.RoastScored(mid, 1, "alice", 1, 1, 1, 1, "first"))
    before = d.state.matches[mid].scores["alice"]
    out = d.step(
        R.RoastScored(mid, 1, "alice", 9, 9, 9, 9, "again"),
        R.RoastScored(mid, 2, "bob", 9, 9, 9, 9, "wrong round"),
        R.RoastScored(mid, 1, "carol", 9, 9, 9, 9, "not a player"),
        R.RoastScored("ro-nosuch", 1, "bob", 9, 9, 9, 9, "no match"),
    )
    assert out.messages == [] and out.effects == []
    assert d.state.matches[mid].scores == {"alice": before}


def test_scoring_timeout_scores_zero():
    d = Driver(scores=None)
    mid = d.start()
    d.play_round(mid)
    t = d.tick
    d.step(R.RoastScored(mid, 1, "alice", 3, 3, 3, 3, "only alice"))
    out = d.advance(6)
    assert out.events("battle:score_revealed") == []
    out = d.step()
    assert d.tick == t + 8
    revealed = {e.body["playerId"]: e.body for e in out.events("battle:score_revealed")}
    assert revealed["alice"]["score"] == 12
    assert revealed["bob"]["score"] == 0 and revealed["bob"]["breakdown"] == dict.fromkeys(DIMENSIONS, 0)
    # the judge's answer after the timeout is dropped
    d.step(R.RoastScored(mid, 1, "bob", 10, 10, 10, 10, "too late"))
    assert d.state.matches[mid].totals == {"alice": 12, "bob": 0}


def play_battle(d: Driver, mid: str) -> None:
    """Both players submit every round until the battle ends."""
    for _ in range(100):
        if d.phase(mid) == "ended":
            return
        if d.phase(mid) == "recording" and not d.state.matches[mid].submissions:
            d.play_round(mid)
        else:
            d.step()
    raise AssertionError("battle did not end")


def test_three_rounds_winner_takes_pool_less_fee():
    d = Driver(scores={"alice": (8, 8, 8, 8), "bob": (5, 5, 5, 5)})
    mid = d.start()
    ok(d.do(d.watch("carol", mid)))
    play_battle(d, mid)
    assert [e.body["roundNumber"] for e in d.events("battle:round_start", match=mid)] == [1, 2, 3]
    assert len(d.events("battle:score_revealed", match=mid)) == 6
    (e,) = ended(d, mid)
    assert e.to == ("alice", "bob", "carol")
    assert e.body == {"match": mid, "winnerId": "alice", "finalScores": {"player1": 96, "player2": 60},
                      "prizeAmount": 190, "reason": "completed"}
    (s,) = [x for x in d.effects if isinstance(x, Settle)]
    assert s.key == f"payout:{mid}" and s.reason == "completed"
    esc = f"escrow:{mid}"
    assert transfers(s) == {(esc, "alice", 190), (esc, "fee:partner", 2), (esc, "fee:creator", 8)}
    d.advance(1)
    assert d.ledger.escrows() == {}
    assert d.ledger.balance("alice") == d.funds + 90
    assert d.ledger.balance("bob") == d.funds - FEE
    assert d.state.unsettled == {}
    assert d.state.matches == {} and d.state.bindings == {} and d.state.modes["roast"].playing == {}
    # prompts asked: one per round, never more
    assert sorted(g.round for g in d.effects if isinstance(g, GeneratePrompt)) == [1, 2, 3]


@pytest.mark.parametrize(
    "fee, fee_bps, partner_bps, prize, partner, creator",
    [
        (333, 500, 2_500, 633, 8, 25),  # pool 666, fee floor(33.3) = 33, partner floor(8.25)
        (100, 0, 2_500, 200, 0, 0),  # no platform fee: no fee transfers at all
        (100, 500, 10_000, 190, 10, 0),
        (101, 123, 3_333, 200, 0, 2),  # fee floor(2.48) = 2, partner floor(0.66) = 0
    ],
)
def test_payout_split(fee, fee_bps, partner_bps, prize, partner, creator):
    tiers = {"bronze": fee, "silver": 500, "gold": 2_000, "diamond": 10_000}
    cfg = fast_config(tiers=tiers, platform_fee_bps=fee_bps, partner_share_bps=partner_bps, rounds=1)
    d = Driver(cfg, scores={"alice": (1, 1, 1, 1), "bob": (2, 2, 2, 2)})
    mid = d.start()
    play_battle(d, mid)
    (e,) = ended(d, mid)
    assert e.body["winnerId"] == "bob" and e.body["prizeAmount"] == prize
    (s,) = [x for x in d.effects if isinstance(x, Settle)]
    esc = f"escrow:{mid}"
    expected = {(esc, "bob", prize), (esc, "fee:partner", partner), (esc, "fee:creator", creator)}
    assert transfers(s) == {t for t in expected if t[2] > 0}
    assert all(t.amount > 0 for t in s.transfers)
    assert sum(t.amount for t in s.transfers) == 2 * fee
    d.advance(1)
    assert d.ledger.escrows() == {}


def _round_scores(per_round_a, per_round_b):
    """Score spec: per-round totals (multiples of 4) spread evenly over the dimensions."""
    spec = {}
    for rnd, (a, b) in enumerate(zip(per_round_a, per_round_b), start=1):
        spec[(rnd, "alice")] = (a // 4,) * 4
        spec[(rnd, "bob")] = (b // 4,) * 4
    return spec


@pytest.mark.parametrize(
    "alice, bob, winner",
    [
        ([20, 20, 20], [16, 16, 16], "alice"),  # total decides
        ([20, 20, 8], [16, 16, 16], "alice"),  # equal totals (48): rounds won 2-1
        ([8, 16, 24], [16, 16, 16], "alice"),  # equal totals, rounds won 1-1, best round 24 > 16
        ([40, 0, 20], [20, 20, 20], "alice"),  # equal totals, rounds won 1-1, best round 40 > 20
        ([20, 12, 16], [12, 20, 16], None),  # equal totals, rounds, best round: draw
        ([16, 16, 16], [16, 16, 16], None),
    ],
)
def test_tie_rules(alice, bob, winner):
    d = Driver(scores=_round_scores(alice, bob))
    mid = d.start()
    play_battle(d, mid)
    (e,) = ended(d, mid)
    assert e.body["finalScores"] == {"player1": sum(alice), "player2": sum(bob)}
    assert e.body["winnerId"] == (None if winner is None else winner)
    assert e.body["reason"] == "completed"
    (s,) = [x for x in d.effects if isinstance(x, Settle)]
    esc = f"escrow:{mid}"
    if winner is None:
        assert e.body["prizeAmount"] == 0
        assert (s.key, s.reason) == (f"refund:{mid}", "draw")
        assert transfers(s) == {(esc, "alice", FEE), (esc, "bob", FEE)}
    else:
        assert e.body["prizeAmount"] == 190
        assert s.key == f"payout:{mid}" and (esc, winner, 190) in transfers(s)
    d.advance(1)
    assert d.ledger.escrows() == {}
    assert d.ledger.total() == 2 * d.funds


def test_tie_rule_order_total_beats_rounds_won():
    # bob wins two rounds but alice has the higher total
    d = Driver(scores=_round_scores([40, 4, 4], [8, 8, 8]))
    mid = d.start()
    play_battle(d, mid)
    assert ended(d, mid)[0].body["winnerId"] == "alice"


# --- reactions and watching ---------------------------------------------------------------


def test_reactions_count_per_emoji_and_reach_the_audience():
    d = Driver()
    mid = d.start(recording=False)
    out = d.step(d.react("alice", mid, "🔥"))
    ok(out.reply, {})
    ev = out.event("reaction:sent")
    assert ev.to == ("alice", "bob")
    assert ev.body == {"match": mid, "emoji": "🔥", "senderId": "alice", "count": 1}
    ok(d.do(d.watch("carol", mid)))
    out = d.step(d.react("carol", mid, "🔥"), d.react("bob", mid, "😂"))
    a, b = out.events("reaction:sent")
    assert a.to == ("alice", "bob", "carol")
    assert (a.body["senderId"], a.body["count"]) == ("carol", 2)
    assert (b.body["emoji"], b.body["count"]) == ("😂", 1)
    assert d.state.matches[mid].reactions == {"🔥": 2, "😂": 1}


def test_reactions_in_the_entry_phase_work_too():
    d = Driver()
    mid = d.matchmake()
    ok(d.do(d.react("bob", mid, "👏")))


def test_reaction_errors():
    d = Driver()
    mid = d.start()
    err(d.do(d.react("dave", mid, "🔥")), "not_allowed")  # not watching
    err(d.do(d.react("alice", "ro-nosuch", "🔥")), "not_found")
    for bad in ("abc", "", " ", "a🔥", "🔥 ", "1", "\x00", "🔥" * 17, "\n"):
        err(d.do(d.react("alice", mid, bad)), "bad_request")
    ok(d.do(d.react("alice", mid, "🔥" * 16)))
    assert d.state.matches[mid].reactions == {"🔥" * 16: 1}


def test_distinct_reactions_are_capped():
    d = Driver()
    mid = d.start()
    emojis = [chr(0x1F600 + i) for i in range(65)]
    out = d.step(*(d.react("alice", mid, e) for e in emojis[:64]))
    assert all(r.ok for r in out.replies)
    err(d.do(d.react("alice", mid, emojis[64])), "not_allowed")
    ok(d.do(d.react("alice", mid, emojis[0])))  # a known one still counts


def test_watch_replies_and_sends_snapshot():
    d = Driver()
    mid = d.start()
    d.step(d.submit("alice", mid))
    w = d.watch("carol", mid)
    out = d.step(w)
    ok(out.reply, {})
    assert out.reply.session == w.session and out.reply.rid == w.rid
    snap = out.event("match.snapshot")
    assert snap.to == ("carol",)
    assert snap.body["match"] == mid and snap.body["tick"] == d.tick
    st = snap.body["state"]
    assert st["phase"] == "recording" and st["round"] == 1 and st["rounds"] == 3
    assert st["players"] == ["alice", "bob"] and st["paid"] == ["alice", "bob"]
    assert st["submitted"] == ["alice"] and st["watchers"] == 1
    assert st["prompt"] and st["scores"] == {"player1": 0, "player2": 0}
    assert st["deadline_ms"] > 0
    assert d.state.bindings["carol"] == {mid: "watcher"}
    # watching again: reply and snapshot again, no second binding
    out = d.step(d.watch("carol", mid))
    ok(out.reply)
    assert len(out.events("match.snapshot")) == 1 and len(d.state.matches[mid].watchers) == 1
    # a player may ask for a snapshot too (not becoming a watcher)
    out = d.step(d.watch("alice", mid))
    ok(out.reply)
    assert out.event("match.snapshot").to == ("alice",)
    assert "alice" not in d.state.matches[mid].watchers
    err(d.do(d.watch("carol", "ro-nosuch")), "not_found")
    # the net layer's query gives the same view
    ev = snapshot_event(d.state, mid, "carol")
    assert ev.to == ("carol",) and ev.body["state"]["phase"] == "recording"
    assert snapshot_event(d.state, "ro-nosuch", "carol") is None


def test_watch_limit_per_wallet():
    d = Driver(fast_config(max_watch_per_wallet=2))
    mids = [d.matchmake(f"a{i}", f"b{i}") for i in range(3)]
    ok(d.do(d.watch("w", mids[0])))
    ok(d.do(d.watch("w", mids[1])))
    err(d.do(d.watch("w", mids[2])), "not_allowed")
    ok(d.do(d.watch("w", mids[1])))  # already watching: fine


def test_watcher_sees_the_end_and_is_unbound():
    d = Driver(scores={"alice": (1, 1, 1, 1), "bob": (2, 2, 2, 2)})
    mid = d.start()
    ok(d.do(d.watch("carol", mid)))
    play_battle(d, mid)
    (e,) = ended(d, mid)
    assert "carol" in e.to
    assert "carol" not in d.state.bindings


def test_watcher_keeps_watching_through_a_disconnect():
    d = Driver()
    mid = d.start()
    ok(d.do(d.watch("carol", mid)))
    d.step(I.PlayerDisconnected("carol"))
    assert "carol" in d.state.matches[mid].watchers and d.state.bindings["carol"] == {mid: "watcher"}
    out = d.step(d.react("alice", mid))
    assert out.event("reaction:sent").to == ("alice", "bob", "carol")  # kept for carol's session
    d.step(I.PlayerReconnected("carol"))
    ok(d.do(d.react("carol", mid)))
    # no grace period or forfeit applies to a watcher
    assert "carol" not in d.state.matches[mid].gone_until
    play_battle(d, mid)
    assert "carol" not in d.state.bindings  # watching ends with the battle


# --- connections ---------------------------------------------------------------------------


def test_disconnect_past_grace_forfeits():
    d = Driver()
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"))
    t = d.tick
    out = d.advance(5)
    assert out.events("battle:ended") == []
    out = d.step()
    assert d.tick == t + 6
    e = out.event("battle:ended")
    assert e.body == {"match": mid, "winnerId": "bob", "finalScores": {"player1": 0, "player2": 0},
                      "prizeAmount": 190, "reason": "forfeit"}
    (s,) = out.settles
    assert s.key == f"payout:{mid}" and s.reason == "forfeit"
    assert (f"escrow:{mid}", "bob", 190) in transfers(s)
    d.advance(1)
    assert d.ledger.escrows() == {} and d.ledger.balance("bob") == d.funds + 90


@pytest.mark.parametrize("phase", ["countdown", "scoring", "waiting_prompt"])
def test_forfeit_in_any_phase_after_entry(phase):
    d = Driver(scores=None, prompts=phase != "waiting_prompt",
               config=fast_config(scoring_timeout_ms=5_000, prompt_timeout_ms=5_000))
    if phase == "waiting_prompt":
        mid = d.matchmake()
        d.step(d.pay(mid, "alice"), d.pay(mid, "bob"))
    else:
        mid = d.start(recording=phase != "countdown")
        if phase == "scoring":
            d.play_round(mid)
    assert d.phase(mid) == phase
    d.step(I.PlayerDisconnected("bob"))
    out = d.advance(6)
    e = out.event("battle:ended")
    assert e.body["reason"] == "forfeit" and e.body["winnerId"] == "alice"


def test_reconnect_within_grace_does_not_forfeit():
    d = Driver(scores={"alice": (1, 1, 1, 1), "bob": (2, 2, 2, 2)})
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"))
    d.advance(4)
    d.step(I.PlayerReconnected("alice"))
    d.advance(10)
    assert all(e.body["reason"] != "forfeit" for e in ended(d, mid))
    play_battle(d, mid)
    (e,) = ended(d, mid)
    assert e.body["reason"] == "completed" and e.body["winnerId"] == "bob"


def test_reconnect_on_the_grace_tick_counts():
    d = Driver()
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"))
    until = d.state.matches[mid].gone_until["alice"]
    d.step(I.PlayerReconnected("alice"), tick=until)
    assert d.phase(mid) != "ended"


def test_both_disconnected_cancels_and_refunds():
    d = Driver()
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"), I.PlayerDisconnected("bob"))
    out = d.advance(6)
    e = out.event("battle:ended")
    assert e.body["reason"] == "cancelled" and e.body["winnerId"] is None and e.body["prizeAmount"] == 0
    (s,) = out.settles
    assert s.key == f"refund:{mid}"
    assert transfers(s) == {(f"escrow:{mid}", "alice", FEE), (f"escrow:{mid}", "bob", FEE)}
    d.advance(1)
    assert d.ledger.escrows() == {} and d.ledger.total() == 2 * d.funds


def test_grace_lapsing_while_the_other_player_is_gone_too_cancels():
    d = Driver()
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"))
    d.advance(2)
    d.step(I.PlayerDisconnected("bob"))
    out = d.advance(6)
    e = out.event("battle:ended")
    assert (e.body["reason"], e.body["winnerId"]) == ("cancelled", None)


def test_grace_lapsing_after_the_other_player_came_back_forfeits():
    d = Driver()
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"))
    d.step(I.PlayerDisconnected("bob"))
    d.step(I.PlayerReconnected("bob"))
    out = d.advance(8)
    e = out.event("battle:ended")
    assert (e.body["reason"], e.body["winnerId"]) == ("forfeit", "bob")


def test_repeated_disconnect_report_does_not_restart_the_grace():
    d = Driver()
    mid = d.start()
    d.step(I.PlayerDisconnected("alice"))
    d.advance(4)
    d.step(I.PlayerDisconnected("alice"))
    out = d.advance(3)
    assert out.event("battle:ended").body["reason"] == "forfeit"


def test_disconnect_during_entry_does_not_forfeit_before_the_battle_starts():
    d = Driver()
    mid = d.matchmake()
    d.step(I.PlayerDisconnected("alice"))
    d.advance(10)
    assert d.phase(mid) == "entry"
    out = d.advance(15)
    assert out.event("battle:ended").body["reason"] == "cancelled"


def test_disconnected_player_whose_fee_arrives_forfeits_once_rounds_begin():
    d = Driver()
    mid = d.matchmake()
    d.step(d.pay(mid, "alice"), I.PlayerDisconnected("alice"))
    d.advance(8)  # past alice's grace, still in entry
    d.step(d.pay(mid, "bob"))  # alice's grace has run out: she forfeits at once
    (e,) = ended(d, mid)
    assert (e.body["reason"], e.body["winnerId"]) == ("forfeit", "bob")


def test_disconnect_while_queued_leaves_the_queue():
    d = Driver()
    ok(d.do(d.queue_join("a")))
    d.step(I.PlayerDisconnected("a"))
    assert d.state.modes["roast"].queued == {}
    ok(d.do(d.queue_join("b")))
    assert d.events("match.found") == []
    d.step(I.PlayerReconnected("a"))  # coming back does not requeue
    ok(d.do(d.queue_join("c")))
    assert d.events("match.found", to="b")[0].body["players"] == ["b", "c"]


def test_connection_changes_of_unknown_wallets_are_harmless():
    d = Driver()
    out = d.step(I.PlayerDisconnected("ghost"), I.PlayerReconnected("ghost"))
    assert out.messages == [] and out.effects == []


# --- tips --------------------------------------------------------------------------------


def test_tip_sent_is_announced_to_both_wallets():
    d = Driver()
    out = d.step(I.TipSent("alice", "bob", 1_000, 20, "tip-1"))
    (e,) = out.messages
    assert e.type == "tip:received" and e.to == ("alice", "bob")
    assert e.body == {"from": "alice", "to": "bob", "amount": 1_000, "fee": 20}
    assert out.effects == []


# --- timers are not postponed by traffic (regression) ------------------------------------


def test_rejected_requests_every_tick_do_not_stall_the_battle():
    # Used to freeze a battle: every input naming it moved its due timer on.
    d = Driver()
    mid = d.matchmake()
    for _ in range(40):
        d.step(d.react("stranger", mid, "🔥"))
    assert ended(d, mid) and ended(d, mid)[0].body["reason"] == "cancelled"
    mid = d.start(recording=False)
    t = d.tick
    for _ in range(2):
        d.step(d.react("stranger", mid, "🔥"))
    assert d.tick == t + 2 and d.phase(mid) == "recording"
    for _ in range(10):
        d.step(d.submit("stranger", mid))
    assert d.phase(mid) != "recording"


def test_inputs_past_a_deadline_do_not_delay_it():
    # A step that jumps past a deadline still fires it at once, after the inputs.
    d = Driver()
    mid = d.start(recording=False)
    deadline = d.state.matches[mid].deadline
    out = d.step(d.react("alice", mid), tick=deadline + 3)
    assert d.phase(mid) == "recording"


# --- determinism ----------------------------------------------------------------------------


def scripted_run(text: str = "you are a typo", finish: bool = True) -> Driver:
    d = Driver(scores=lambda e: (len(e.text) % 11, 3, 4, 5))
    mid = d.matchmake()
    d.step(d.pay(mid, "alice"))
    d.step(d.pay(mid, "bob"), d.watch("carol", mid), d.react("carol", mid, "🔥"))
    d.run_until(lambda: d.phase(mid) == "recording")
    d.step(d.submit("alice", mid, text=text), d.submit("bob", mid, text="no u"))
    d.step(I.PlayerDisconnected("bob"))
    d.advance(3)
    d.step(I.PlayerReconnected("bob"), I.TipSent("carol", "alice", 10, 0, "t"))
    if finish:
        play_battle(d, mid)
        d.advance(2)
    return d


def test_state_hash_is_stable_across_identical_runs():
    d1, d2 = scripted_run(), scripted_run()
    assert d1.hash() == d2.hash()
    assert d1.messages == d2.messages and d1.effects == d2.effects
    assert state_hash(replay(d1.config, d1.log)) == d1.hash()


def test_state_hash_differs_after_different_inputs():
    # (an ended battle leaves no trace in the state, so compare mid-battle)
    d1, d2 = scripted_run(finish=False), scripted_run("you are two typos", finish=False)
    assert d1.hash() != d2.hash()
    assert scripted_run(finish=False).hash() == d1.hash()
    a, b = Driver(), Driver()
    assert a.hash() == b.hash()
    a.step(a.queue_join("x"))
    b.step(b.queue_join("y"))
    assert a.hash() != b.hash()


def test_state_hash_depends_on_the_seed():
    assert Driver(fast_config(seed=1)).hash() != Driver(fast_config(seed=2)).hash()
    d1, d2 = Driver(fast_config(seed=1)), Driver(fast_config(seed=2))
    assert d1.matchmake() != d2.matchmake()


def test_step_rejects_a_tick_that_does_not_advance():
    d = Driver()
    d.step()
    d.step()
    with pytest.raises(ValueError):
        d.step(tick=d.tick)
    with pytest.raises(ValueError):
        d.step(tick=1)


def test_unknown_input_type_is_a_bug():
    d = Driver()
    with pytest.raises(TypeError):
        d.step(object())


def test_ledger_double_is_idempotent_and_refuses_overdrafts():
    led = Ledger({"a": 10})
    s = Settle("k", "m", (Transfer("a", "b", 7),), "x")
    assert led.settle(s) and not led.settle(s)
    assert led.balances["a"] == 3 and led.balances["b"] == 7 and led.duplicates == [s]
    with pytest.raises(AssertionError):
        led.settle(Settle("k2", "m", (Transfer("a", "b", 4),), "x"))
    assert led.total() == 10


@pytest.mark.parametrize("emoji", ["🔥", "👍🏽", "❤️", "👨‍👩‍👧", "🇫🇷", "!"])
def test_emoji_symbols_are_accepted(emoji):
    from arena.modes.roast.mode import _valid_emoji

    assert _valid_emoji(emoji)


@pytest.mark.parametrize("emoji", ["", "abc", "é", "日本", "🔥 ", "1", "\x00", "\u200b" * 17])
def test_emoji_that_could_carry_text_are_refused(emoji):
    from arena.modes.roast.mode import _valid_emoji

    assert not _valid_emoji(emoji)


def test_same_payment_reported_twice_counts_once_and_is_not_refunded():
    d = Driver()
    mid = d.matchmake()
    pay = d.pay(mid, "alice")
    out = d.step(pay, pay)
    assert [e for e in out.effects if type(e).__name__ == "Settle"] == []


# --- settings changed by the operator -------------------------------------------------------


def test_roast_settings_change_applies_to_new_battles_only():
    d = Driver(scores={"alice": (1, 1, 1, 1), "bob": (2, 2, 2, 2), "carol": (1, 1, 1, 1), "dave": (2, 2, 2, 2)})
    old = d.start("alice", "bob")
    first = d.state.config.modes["roast"]
    old_deadline = d.state.matches[old].deadline
    roast = attrs.evolve(first, rounds=1, platform_fee_bps=1_000, time_limit_ms=first.time_limit_ms * 2,
                         tiers={**first.tiers, "bronze": 250})
    d.step(R.RoastSettingsChanged(roast_settings(roast)))
    assert d.state.config.modes["roast"] == roast
    # the running battle keeps its terms: its deadline, 3 rounds and the 5 % fee
    assert d.state.matches[old].deadline == old_deadline and match_terms(d.state, d.state.matches[old]) == first
    play_battle(d, old)
    (e,) = ended(d, old)
    assert e.body["prizeAmount"] == 200 - 10 and d.state.tick > 0
    assert len([x for x in d.events("battle:score_revealed", match=old)]) == 2 * first.rounds
    # a new battle gets the new ones: fee 250 per player, 1 round, 10 % fee
    new = d.start("carol", "dave")
    assert d.state.matches[new].entry_fee == 250 and match_terms(d.state, d.state.matches[new]) == roast
    assert d.state.modes["roast"].terms == {1: first, 2: roast}  # each set of settings kept once
    play_battle(d, new)
    (e2,) = ended(d, new)
    assert e2.body["prizeAmount"] == 500 - 50
    assert len(d.events("battle:score_revealed", match=new)) == 2


def test_roast_settings_the_config_refuses_change_nothing():
    d = Driver()
    before = d.state.config
    for bad in ((("time_limit_ms", 0),), (("no_such_setting", 1),), (("tiers.bronze", -5),),
                (("tiers.platinum", 5),), (("rounds", "three"),)):
        d.step(R.RoastSettingsChanged(bad))
        assert d.state.config == before


def test_roast_settings_round_trip_through_the_journal_record():
    inp = R.RoastSettingsChanged(roast_settings(RoastConfig()))
    assert I.from_record(I.to_record(inp)) == inp
    rec = msgpack.unpackb(msgpack.packb(I.to_record(inp)), raw=False)
    assert I.from_record(rec) == inp  # arrays of arrays come back as the same pairs


def test_a_battle_from_an_older_snapshot_has_no_terms_and_the_same_hash():
    """Snapshots written before battles kept their own terms load with
    terms=None: the state hash leaves the field out (so they still verify)
    and the battle plays under the current settings."""
    from arena.engine.canonical import to_plain

    d = Driver(scores={"alice": (1, 1, 1, 1), "bob": (2, 2, 2, 2)})
    mid = d.start("alice", "bob")
    m, q = d.state.matches[mid], d.state.modes["roast"]
    assert "terms" in to_plain(m) and "terms" in to_plain(q)
    m.terms, q.terms = None, None  # as loaded from such a snapshot
    assert "terms" not in to_plain(m) and "terms" not in to_plain(q)
    play_battle(d, mid)
    (e,) = ended(d, mid)
    assert e.body["prizeAmount"] == 190


# --- shared matchmaking (a cluster's pairs: docs/SCALING.md) -------------------------


def test_a_shared_queue_pair_makes_one_battle_that_replays():
    d = Driver()
    d.do(d.queue_join("c"))  # in this world's own queue: a pair naming it takes it out
    paired = I.MatchPaired("roast", "silver", ["a", "c"])
    assert I.from_record(msgpack.unpackb(msgpack.packb(I.to_record(paired)))) == paired  # the journal's form
    out = d.step(paired)
    found = out.events("match.found")
    assert [e.to for e in found] == [("a",), ("c",)]
    mid = found[0].body["match"]
    m = d.state.matches[mid]
    assert m.players == ["a", "c"] and m.tier == "silver" and m.entry_fee == found[0].body["entry_fee"]
    q = d.state.modes["roast"]
    assert q.playing == {"a": mid, "c": mid} and q.queued == {}
    assert d.hash() == state_hash(replay(d.config, d.log))  # journaled like any input


def test_a_shared_queue_pair_this_world_cannot_hold_is_dropped():
    d = Driver()
    mid = d.matchmake("a", "b")
    for pair in (("a", "x"), ("x", "x"), ("x",), ("x", "y", "z")):
        out = d.step(I.MatchPaired("roast", "bronze", pair))
        assert out.events("match.found") == []
        dropped = out.events("queue.dropped")
        assert {w for e in dropped for w in e.to} == set(pair)
        assert all(e.body["tier"] == "bronze" for e in dropped)
    out = d.step(I.MatchPaired("roast", "plastic", ("x", "y")))
    assert out.events("match.found") == [] and len(out.events("queue.dropped")) == 1
    out = d.step(I.MatchPaired("chess", "bronze", ("x", "y")))  # a mode this world does not run
    assert out.events() == []
    assert list(d.state.matches) == [mid]


def test_shared_queue_checks_as_the_engine_queue_does():
    from arena.engine.registry import registry

    d = Driver()
    mode = registry.get("roast")
    assert mode.shared_queue(d.state, "a", {"mode": "roast", "tier": "gold"}) == "gold"
    with pytest.raises(ArenaError) as e:
        mode.shared_queue(d.state, "a", {"mode": "roast", "tier": "platinum"})
    assert e.value.code == "bad_request"
    d.matchmake("a", "b")
    with pytest.raises(ArenaError) as e:
        mode.shared_queue(d.state, "a", {"mode": "roast", "tier": "gold"})
    assert e.value.code == "wrong_state"
