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
- `battle:ended` -> ("ended", id, winner, prize, reason, score1, score2, tick);
  users' battles / wins / earnings counters move once per battle
  (cancelled battles do not count).
"""

from __future__ import annotations

import json

from arena.engine.outputs import Event

INTERESTING = frozenset({"match.found", "battle:roast_submitted", "battle:score_revealed", "battle:ended"})


def from_events(tick: int, messages, round_of) -> list[tuple]:
    """Record operations for one tick's messages.

    `round_of(battle id)` gives a live battle's current round (for clips: the
    submitted event does not carry it).
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
        elif m.type == "battle:ended":
            s = b["finalScores"]
            ops.append(("ended", b["match"], b["winnerId"], b["prizeAmount"], b["reason"],
                        s["player1"], s["player2"], tick))
    return ops
