"""Roast's client requests: `roast.submit` and `reaction.send` (PROTOCOL.md).

Each is declared once, as fields and the input it becomes; the gateway
validates the body from the fields in the protocol's order and holds no
game rule. `roast.submit` may carry its audio recording: the gateway stores
it only for a submission the engine would accept now (`_audio_slot`, the
same rules the mode applies), so a hostile client cannot fill the media
store with junk, and a refused submission never overwrites the audio of the
accepted one.
"""

from __future__ import annotations

from arena.engine.mode import GameRequest, RequestField, Upload

from .messages import ReactionSend, RoastSubmit

MAX_ID_CHARS = 128


def _audio_slot(state, wallet: str, body: dict) -> int | None:
    """The player's number (1 or 2: the media key's last part) if the battle
    would take this submission now, else None (the engine then says why)."""
    from .mode import RECORDING, match_terms

    match = state.matches.get(body["match"])
    if match is None or getattr(match, "mode", None) != "roast":
        return None
    if (wallet in match.players and match.phase == RECORDING and body["round"] == match.round
            and wallet not in match.submissions
            and len(body["text"]) <= match_terms(state, match).max_text_chars):
        return match.players.index(wallet) + 1
    return None


REQUESTS = (
    GameRequest(
        name="roast.submit",
        fields=(RequestField("match", str, max_len=MAX_ID_CHARS), RequestField("round", int),
                RequestField("text", str), RequestField("audio", bytes, required=False)),
        make=lambda session, rid, wallet, body, at_ms, url: RoastSubmit(
            session, rid, wallet, body["match"], body["round"], body["text"], url, at_ms),
        upload=Upload(field="audio", accepts=_audio_slot,
                      claim=lambda body, wallet: (body["match"], body["round"], wallet)),
        stamp_ms=True,
    ),
    GameRequest(
        name="reaction.send",
        fields=(RequestField("match", str, max_len=MAX_ID_CHARS), RequestField("emoji", str, max_len=64)),
        make=lambda session, rid, wallet, body, at_ms, url: ReactionSend(
            session, rid, wallet, body["match"], body["emoji"]),
        bucket="reactions",
    ),
)
