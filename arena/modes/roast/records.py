"""RoastPush records (users, battles, rounds, clips) derived from engine events.

The engine does not know about tables; the persistence side task hands each
tick's messages to every mode's `records`, and the store writes the
operations in the same transaction as that tick's journal rows (so records
and journal never disagree, and a replay after a crash does not write them
twice). Roast's tables (`users`, `battles`, `rounds`, `clips`) predate the
generic `mode_records` table; the stores write these operations into them:

- `match.found` -> ("battle", id, mode, tier, player1, player2, entry_fee, tick)
  (and both users exist);
- `battle:roast_submitted` with an audio URL -> ("clip", id, round, player, url, tick);
- `battle:score_revealed` -> ("round", id, round, player, score, breakdown JSON, commentary, tick);
- `battle:round_start` -> ("prompt", id, round, prompt, tick) (history);
- `battle:ended` -> ("ended", id, winner, prize, reason, score1, score2, tick);
  users' battles / wins / earnings counters move once per battle
  (cancelled battles do not count); and a `MatchResult` for the players'
  histories (`history.get`), whose rounds `history_result` adds from the
  rounds, prompts and clips tables.

`battle:ended` goes to the battle's audience, players first (`_audience`),
so its first two recipients are the players: the event body does not
repeat them.
"""

from __future__ import annotations

import json

from arena.engine.mode import Board, MatchResult
from arena.engine.outputs import Event

INTERESTING = frozenset({"match.found", "battle:roast_submitted", "battle:score_revealed", "battle:ended",
                         "battle:round_start", "tip:received"})


def from_events(tick: int, messages, round_of, is_battle=lambda _mid: False) -> list[tuple]:
    """Record operations for one tick's messages.

    `round_of(battle id)` gives a live battle's current round (for clips: the
    submitted event does not carry it); `is_battle(match id)` says whether a
    live match is a roast battle (a tip tied to one is kept with it).
    """
    ops: list[tuple] = []
    for m in messages:
        if type(m) is not Event or m.type not in INTERESTING:
            continue
        b = m.body
        if m.type == "match.found":
            players = b.get("players") or []
            if len(players) != 2 or players[0] != m.to[0]:
                continue  # a battle has two players, announced to each: record it once
            p1, p2 = players
            ops.append(("battle", b["match"], b["mode"], b["tier"], p1, p2, b["entry_fee"], tick))
        elif m.type == "battle:roast_submitted":
            if b.get("audioUrl"):
                ops.append(("clip", b["match"], round_of(b["match"]), b["playerId"], b["audioUrl"], tick))
        elif m.type == "battle:score_revealed":
            ops.append((
                "round", b["match"], b["roundNumber"], b["playerId"], b["score"],
                json.dumps(b["breakdown"], sort_keys=True), b["commentary"], tick,
            ))
        elif m.type == "tip:received":
            if b.get("match") and is_battle(b["match"]):
                ops.append(("tip", b["match"], b["from"], b["to"], b["amount"], b["fee"], tick))
        elif m.type == "battle:round_start":
            ops.append(("prompt", b["match"], b["roundNumber"], b["prompt"], tick))
        elif m.type == "battle:ended":
            s = b["finalScores"]
            ops.append(("ended", b["match"], b["winnerId"], b["prizeAmount"], b["reason"],
                        s["player1"], s["player2"], tick))
            ops.append(MatchResult(b["match"], players_of(m), result_of(m)))
    return ops


def players_of(ended: Event) -> tuple:
    return tuple(ended.to[:2])


def result_of(ended: Event) -> dict:
    """A battle's result as `history.get` shows it (before its rounds).

    The settlement key is the one the mode's `Settle` used: `payout:<match>`
    when there is a winner, else `refund:<match>` (a draw or a cancelled
    battle refunds every confirmed fee)."""
    b = ended.body
    winner = b["winnerId"]
    p1, p2 = players_of(ended)
    return {
        "winner": winner,
        "prize": b["prizeAmount"],
        "reason": b["reason"],
        "players": [p1, p2],
        "scores": {p1: b["finalScores"]["player1"], p2: b["finalScores"]["player2"]},
        "settlement_key": f"{'payout' if winner is not None else 'refund'}:{b['match']}",
    }


def _counted(ended: Event) -> bool:
    return ended.body["reason"] != "cancelled"


# The roast leaderboards (`Mode.boards`): points per wallet from each
# `battle:ended`. Cancelled battles count on no board (as in `users`).
ENDED = frozenset({"battle:ended"})
BOARDS = {
    "roast.wins": Board(ENDED, lambda e: [(e.body["winnerId"], 1)] if e.body["winnerId"] else [],
                        "battles won"),
    "roast.earnings": Board(ENDED, lambda e: [(e.body["winnerId"], e.body["prizeAmount"])]
                            if e.body["winnerId"] and e.body["prizeAmount"] > 0 else [],
                            "prizes won, in base units"),
    "roast.battles": Board(ENDED, lambda e: [(w, 1) for w in players_of(e)] if _counted(e) else [],
                           "battles played to the end (draws and forfeits included)"),
}


def history_result(result: dict, rows: list[dict]) -> dict:
    """`result` with its `rounds` (per round, the prompt and each player's
    score, breakdown, commentary and recording URL, None without one) and
    its `tips` (those sent while watching it: from, to, amount, fee)."""
    rounds: dict[int, dict] = {}
    tips = []
    for r in rows:
        if r.get("kind") == "tip":
            tips.append({"from": r["player"], "to": r["to_wallet"], "amount": r["amount"], "fee": r["fee"]})
            continue
        rnd = rounds.setdefault(r["round"], {"round": r["round"], "prompt": r["prompt"], "scores": {}})
        breakdown = r["breakdown"]
        rnd["scores"][r["player"]] = {
            "score": r["score"],
            "breakdown": json.loads(breakdown) if isinstance(breakdown, str) else breakdown,
            "commentary": r["commentary"],
            "clip": r["clip"],
        }
    return {**result, "rounds": [rounds[n] for n in sorted(rounds)], "tips": tips}
