"""What the store keeps of the lottery: a `mode_records` row per round that
ended (finalized or void), and the `lottery.winnings` board (base units paid
to each winner, from `lottery:winnings_claimed`, which is sent once per
payout: at finalization when rounds settle themselves, at the claim else)."""

from __future__ import annotations

from arena.engine.mode import Board, Record
from arena.engine.outputs import Event

BOARDS = {
    "lottery.winnings": Board(frozenset({"lottery:winnings_claimed"}),
                              lambda e: [(e.body["wallet"], e.body["amount"])] if e.body["amount"] > 0 else [],
                              "lottery winnings paid, in base units"),
}


def from_events(messages) -> list:
    out = []
    for msg in messages:
        if msg.__class__ is not Event:
            continue
        if msg.type == "lottery:round_finalized":
            out.append(Record("round", msg.body["round"], {"state": "finalized", "outcome": msg.body["outcome"],
                                                           "result": msg.body["result"]}))
        elif msg.type == "lottery:round_void":
            out.append(Record("round", msg.body["round"], {"state": "void", "reason": msg.body["reason"]}))
    return out
