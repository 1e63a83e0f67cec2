"""What the store keeps of the lottery: a `mode_records` row per round that
ended (finalized or void) and its `history.get` entry (a `MatchResult` for
its bettors), both from `ROUND_ENDED` (an event for no one, with the whole
round as it ended, so the store has it after the round leaves the engine's
state); and the `lottery.winnings` board (base units paid to each winner,
from `lottery:winnings_claimed`, which is sent once per payout: at
finalization when rounds settle themselves, at the claim else)."""

from __future__ import annotations

from arena.engine.mode import Board, MatchResult, Record
from arena.engine.outputs import Event

ROUND_ENDED = "lottery:round_ended"

BOARDS = {
    "lottery.winnings": Board(frozenset({"lottery:winnings_claimed"}),
                              lambda e: [(e.body["wallet"], e.body["amount"])] if e.body["amount"] > 0 else [],
                              "lottery winnings paid, in base units"),
}


def from_events(messages) -> list:
    out = []
    for msg in messages:
        if msg.__class__ is not Event or msg.type != ROUND_ENDED:
            continue
        body = msg.body
        if body["state"] == "finalized":
            row = {"state": "finalized", "outcome": body["outcome"], "result": body["result"]}
        else:
            row = {"state": "void", "reason": body["reason"]}
        out.append(Record("round", body["round"], row))
        out.append(MatchResult(body["round"], tuple(body["stakes"]), dict(body)))
    return out
