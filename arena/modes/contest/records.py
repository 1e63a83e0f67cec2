"""What the store keeps of trading contests: a `mode_records` row and a
`history.get` result per contest that ended (settled or cancelled), and the
boards `contest.wins` (rank 1 of each settled contest), `contest.earnings`
(prizes in base units) and `contest.achievements` (achievements unlocked,
so a profile's stats show them)."""

from __future__ import annotations

from arena.engine.mode import Board, MatchResult, Record
from arena.engine.outputs import Event

BOARDS = {
    "contest.wins": Board(frozenset({"contest:ended"}),
                          lambda e: [(e.body["rankings"][0]["wallet"], 1)] if e.body["rankings"] else [],
                          "contests won (rank 1)"),
    "contest.earnings": Board(frozenset({"contest:ended"}),
                              lambda e: [(p["wallet"], p["amount"]) for p in e.body["prizes"] if p["amount"] > 0],
                              "contest prizes paid, in base units"),
    "contest.achievements": Board(frozenset({"achievement:unlocked"}), lambda e: [(e.body["wallet"], 1)],
                                  "trading-contest achievements unlocked"),
}


def from_events(messages) -> list:
    out = []
    for msg in messages:
        if msg.__class__ is not Event:
            continue
        if msg.type == "contest:ended":
            b = msg.body
            players = tuple(r["wallet"] for r in b["rankings"])
            result = {"state": "settled", "rankings": b["rankings"], "prizes": b["prizes"], "rake": b["rake"],
                      "pool": b["pool"]}
            out.append(Record("contest", b["contest"], result))
            out.append(MatchResult(b["contest"], players, result))
        elif msg.type == "contest:cancelled":
            out.append(Record("contest", msg.body["contest"], {"state": "cancelled", "reason": msg.body["reason"]}))
        elif msg.type == "achievement:unlocked":
            out.append(Record("achievement", f"{msg.body['wallet']}:{msg.body['achievement']}", dict(msg.body)))
    return out
