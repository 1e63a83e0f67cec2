"""What the store keeps of meme rounds: a `mode_records` row per ended
round (its pool and rewards) and per content item's latest state; a
`MatchResult` per ended round, so `history.get` lists it for the owners it
paid; and the `meme.rewards` board (pool rewards paid to each owner, from
`round:ended`, sent once per round)."""

from __future__ import annotations

from arena.engine.mode import Board, MatchResult, Record
from arena.engine.outputs import Event

BOARDS = {
    "meme.rewards": Board(frozenset({"round:ended"}),
                          lambda e: [(r["wallet"], r["amount"]) for r in e.body["rewards"] if r["amount"] > 0],
                          "meme round pool rewards paid, in base units"),
}


def from_events(messages) -> list:
    out = []
    for msg in messages:
        if msg.__class__ is not Event:
            continue
        if msg.type == "round:ended":
            result = {"pool": msg.body["pool"], "rewards": list(msg.body["rewards"])}
            out.append(Record("round", msg.body["round"], result))
            out.append(MatchResult(msg.body["round"], [r["wallet"] for r in msg.body["rewards"]], result))
        elif msg.type == "content:state":
            out.append(Record("content", msg.body["content"], {"state": msg.body["state"],
                                                               "reason": msg.body["reason"]}))
    return out
