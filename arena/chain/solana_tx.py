"""The Solana transactions of Arena, built and checked without any I/O.

Every payment a player makes is one legacy Solana transaction whose only
signer (and fee payer) is the player:

- entry fee: `TransferChecked(amount)` from the player's associated token
  account (ATA) to the escrow token account, then an SPL Memo (signed by the
  player) `arena:entry:<match>:<nonce>`;
- tip: optionally `CreateIdempotent` of the performer's ATA (when it does
  not exist yet; the tipper pays its rent), `TransferChecked(amount - fee)`
  to the performer's ATA, `TransferChecked(fee)` to the protocol fee account
  (left out when the fee is 0), then the memo `arena:tip:<nonce>`.

The nonce makes every build a distinct message (two builds of the same
payment are two payments). `parse_payment` reads a message back and accepts
only exactly these shapes, naming what is wrong otherwise (wrong mint,
account, amount, memo, decimals, program, signer ...).

Settlements and faucet grants are signed by the escrow authority:
`TransferChecked`s out of the escrow token account (plus `CreateIdempotent`
for recipients without an ATA) and the memo `arena:settle:<key>`; the
memo makes a settlement findable on chain by its idempotency key.
"""

from __future__ import annotations

import hashlib
import json

from attrs import frozen
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from spl.memo.constants import MEMO_PROGRAM_ID
from spl.token.constants import ASSOCIATED_TOKEN_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    mint_to_checked,
    transfer_checked,
)
from spl.token.models import MintToCheckedParams, TransferCheckedParams

from arena.engine import errors
from arena.engine.errors import ArenaError

SYSTEM_PROGRAM_ID = Pubkey.from_string("11111111111111111111111111111111")
TRANSFER_CHECKED = 12
MAX_TX_BYTES = 1232  # a Solana packet
MEMO_PREFIX = "arena:"


def ata(owner: Pubkey, mint: Pubkey) -> Pubkey:
    """The associated token account of `owner` for `mint` (SPL Token)."""
    return get_associated_token_address(owner, mint, TOKEN_PROGRAM_ID)


def message_hash(tx: bytes) -> str:
    return hashlib.blake2b(tx, digest_size=32).hexdigest()


def entry_memo(match: str, nonce: str) -> str:
    return f"{MEMO_PREFIX}entry:{match}:{nonce}"


def tip_memo(nonce: str) -> str:
    return f"{MEMO_PREFIX}tip:{nonce}"


def transfers_digest(transfers: list) -> str:
    """16 hex digits naming a settlement's transfers ([source, dest, amount], in order)."""
    blob = json.dumps([list(t) for t in transfers], separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def settle_memo(key: str, digest: str) -> str:
    """The memo a settlement carries: its key and the digest of its transfers, so
    that a memo found on chain proves *this* settlement landed, and the same key
    with other transfers (another world's, or a bug's) is seen as a conflict."""
    return f"{MEMO_PREFIX}settle:{key}#{digest}"


def parse_settle_memo(memo: str) -> tuple[str, str | None] | None:
    """(key, digest) of a settlement memo; digest None for a memo from before
    memos carried one; None if it is not a settlement memo."""
    head = f"{MEMO_PREFIX}settle:"
    if not memo.startswith(head):
        return None
    body = memo[len(head):]
    key, sep, digest = body.rpartition("#")
    if sep and len(digest) == 16 and all(c in "0123456789abcdef" for c in digest):
        return key, digest
    return body, None


@frozen
class Token:
    """The chain-side constants a ledger builds with."""

    mint: Pubkey
    decimals: int
    escrow_authority: Pubkey
    escrow_account: Pubkey      # the escrow token account (the authority's ATA)
    protocol_account: Pubkey    # where tip fees go (fee:protocol's ATA)


@frozen
class EntryTx:
    wallet: str
    match: str
    amount: int
    nonce: str
    blockhash: str


@frozen
class TipTx:
    wallet: str
    to_account: str  # the performer's token account (the build knows the performer)
    amount: int
    fee: int
    nonce: str
    blockhash: str
    creates_ata: bool


def _transfer(tok: Token, source: Pubkey, dest: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    return transfer_checked(TransferCheckedParams(
        program_id=TOKEN_PROGRAM_ID, source=source, mint=tok.mint, dest=dest, owner=owner,
        amount=amount, decimals=tok.decimals))


def memo_ix(text: str, signer: Pubkey) -> Instruction:
    # SPL Memo v2 checks that every listed account signed the transaction.
    return Instruction(MEMO_PROGRAM_ID, text.encode("utf-8"), [AccountMeta(signer, True, False)])


# --------------------------------------------------------------------------
# Building


def entry_message(tok: Token, wallet: Pubkey, match: str, amount: int, nonce: str, blockhash: Hash) -> Message:
    ixs = [
        _transfer(tok, ata(wallet, tok.mint), tok.escrow_account, wallet, amount),
        memo_ix(entry_memo(match, nonce), wallet),
    ]
    return Message.new_with_blockhash(ixs, wallet, blockhash)


def tip_message(tok: Token, wallet: Pubkey, to: Pubkey, amount: int, fee: int, nonce: str,
                blockhash: Hash, create_ata: bool) -> Message:
    src = ata(wallet, tok.mint)
    ixs = []
    if create_ata:
        ixs.append(create_idempotent_associated_token_account(wallet, to, tok.mint, TOKEN_PROGRAM_ID))
    ixs.append(_transfer(tok, src, ata(to, tok.mint), wallet, amount - fee))
    if fee:
        ixs.append(_transfer(tok, src, tok.protocol_account, wallet, fee))
    ixs.append(memo_ix(tip_memo(nonce), wallet))
    return Message.new_with_blockhash(ixs, wallet, blockhash)


def settle_message(tok: Token, key: str, moves: list[tuple[Pubkey, int]], create_for: list[Pubkey],
                   blockhash: Hash, digest: str) -> Message:
    """Escrow → each (token account, amount) in `moves`, creating the ATAs of `create_for` first;
    `digest` is `transfers_digest` of the settlement's transfers (for its memo)."""
    auth = tok.escrow_authority
    ixs = [create_idempotent_associated_token_account(auth, owner, tok.mint, TOKEN_PROGRAM_ID)
           for owner in create_for]
    ixs += [_transfer(tok, tok.escrow_account, dest, auth, amount) for dest, amount in moves if amount > 0]
    ixs.append(memo_ix(settle_memo(key, digest), auth))
    return Message.new_with_blockhash(ixs, auth, blockhash)


def faucet_message(tok: Token, wallet: Pubkey, amount: int, lamports: int, nonce: str, blockhash: Hash) -> Message:
    """Mint `amount` to `wallet`'s ATA (created if needed), plus `lamports` of SOL for fees."""
    from solders.system_program import TransferParams, transfer

    auth = tok.escrow_authority
    ixs = [
        create_idempotent_associated_token_account(auth, wallet, tok.mint, TOKEN_PROGRAM_ID),
        mint_to_checked(MintToCheckedParams(program_id=TOKEN_PROGRAM_ID, mint=tok.mint,
                                            dest=ata(wallet, tok.mint), mint_authority=auth,
                                            amount=amount, decimals=tok.decimals)),
    ]
    if lamports > 0:
        ixs.append(transfer(TransferParams(from_pubkey=auth, to_pubkey=wallet, lamports=lamports)))
    ixs.append(memo_ix(f"{MEMO_PREFIX}faucet:{nonce}", auth))
    return Message.new_with_blockhash(ixs, auth, blockhash)


# --------------------------------------------------------------------------
# Checking what a player signed


def _bad(msg: str) -> ArenaError:
    return ArenaError(errors.BAD_REQUEST, msg)


class _Ix:
    """A compiled instruction with its accounts resolved."""

    __slots__ = ("program", "accounts", "signer", "data")

    def __init__(self, msg: Message, cix) -> None:
        keys = msg.account_keys
        self.program = keys[cix.program_id_index]
        idx = list(bytes(cix.accounts))
        self.accounts = [keys[i] for i in idx]
        self.signer = [msg.is_signer(i) for i in idx]
        self.data = bytes(cix.data)


def _decode_message(tx: object) -> Message:
    if not isinstance(tx, (bytes, bytearray)):
        raise _bad("tx must be bytes")
    tx = bytes(tx)
    if not tx or len(tx) > MAX_TX_BYTES:
        raise _bad("tx has a bad size")
    try:
        msg = Message.from_bytes(tx)
    except Exception:  # noqa: BLE001 - any decoder error means malformed
        raise _bad("tx is not a Solana transaction message") from None
    try:
        canonical = bytes(msg)
    except Exception:  # noqa: BLE001
        raise _bad("tx cannot be re-encoded") from None
    if canonical != tx:
        raise _bad("tx is not a canonically encoded Solana message")
    try:
        for cix in msg.instructions:
            if cix.program_id_index >= len(msg.account_keys) or any(
                    i >= len(msg.account_keys) for i in bytes(cix.accounts)):
                raise _bad("tx instruction refers to a missing account")
    except ArenaError:
        raise
    except Exception:  # noqa: BLE001
        raise _bad("tx instructions are malformed") from None
    return msg


def _check_transfer(tok: Token, ix: _Ix, payer: Pubkey, dest: Pubkey, what: str) -> int:
    if ix.program != TOKEN_PROGRAM_ID:
        raise _bad(f"{what}: not an SPL Token instruction")
    if len(ix.data) != 10 or ix.data[0] != TRANSFER_CHECKED:
        raise _bad(f"{what}: not a TransferChecked")
    if len(ix.accounts) != 4:
        raise _bad(f"{what}: wrong number of accounts")
    source, mint, to, owner = ix.accounts
    if mint != tok.mint:
        raise _bad(f"{what}: wrong mint {mint} (this server's token is {tok.mint})")
    if ix.data[9] != tok.decimals:
        raise _bad(f"{what}: wrong decimals")
    if owner != payer or not ix.signer[3]:
        raise _bad(f"{what}: not authorised by the paying wallet")
    if source != ata(payer, tok.mint):
        raise _bad(f"{what}: does not pay from the wallet's token account")
    if to != dest:
        raise _bad(f"{what}: pays the wrong account {to}")
    amount = int.from_bytes(ix.data[1:9], "little")
    if amount <= 0:
        raise _bad(f"{what}: amount must be positive")
    return amount


def _check_memo(ix: _Ix, payer: Pubkey) -> str:
    if ix.program != MEMO_PROGRAM_ID:
        raise _bad("tx lacks its memo")
    if ix.accounts != [payer] or not ix.signer[0]:
        raise _bad("memo must be signed by the paying wallet")
    try:
        return ix.data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("memo is not UTF-8") from None


def parse_payment(tok: Token, tx: object) -> EntryTx | TipTx:
    """Read back an entry or tip message; `bad_request` unless it has exactly our shape."""
    msg = _decode_message(tx)
    keys = msg.account_keys
    if not keys:
        raise _bad("tx has no accounts")
    payer = keys[0]
    h = msg.header
    if h.num_required_signatures != 1:
        raise _bad("tx must be signed by the paying wallet alone")
    ixs = [_Ix(msg, c) for c in msg.instructions]
    if not 2 <= len(ixs) <= 4:
        raise _bad("tx has the wrong instructions")
    memo = _check_memo(ixs[-1], payer)
    blockhash = str(msg.recent_blockhash)
    if memo.startswith(f"{MEMO_PREFIX}entry:"):
        rest = memo[len(f"{MEMO_PREFIX}entry:"):]
        match, sep, nonce = rest.rpartition(":")
        if not sep or not match or not nonce:
            raise _bad("entry memo must be arena:entry:<match>:<nonce>")
        if len(ixs) != 2:
            raise _bad("entry tx must hold exactly a TransferChecked and a memo")
        amount = _check_transfer(tok, ixs[0], payer, tok.escrow_account, "entry transfer")
        return EntryTx(str(payer), match, amount, nonce, blockhash)
    if memo.startswith(f"{MEMO_PREFIX}tip:"):
        nonce = memo[len(f"{MEMO_PREFIX}tip:"):]
        if not nonce:
            raise _bad("tip memo must be arena:tip:<nonce>")
        body = ixs[:-1]
        creates = False
        if body and body[0].program == ASSOCIATED_TOKEN_PROGRAM_ID:
            c = body.pop(0)
            if c.data != b"\x01" or len(c.accounts) != 6 or c.accounts[0] != payer or c.accounts[3] != tok.mint \
                    or c.accounts[4] != SYSTEM_PROGRAM_ID or c.accounts[5] != TOKEN_PROGRAM_ID \
                    or c.accounts[1] != ata(c.accounts[2], tok.mint):
                raise _bad("tip tx: bad token account creation")
            creates = c.accounts[2]
        if not 1 <= len(body) <= 2:
            raise _bad("tip tx has the wrong instructions")
        first = body[0]
        if first.program != TOKEN_PROGRAM_ID or len(first.accounts) != 4:
            raise _bad("tip tx: not a token transfer")
        dest = first.accounts[2]
        # The performer is whoever owns `dest`: the tx names it only through
        # the ATA, so the ledger must know it (the build records it).
        net = _check_transfer(tok, first, payer, dest, "tip transfer")
        fee = 0
        if len(body) == 2:
            fee = _check_transfer(tok, body[1], payer, tok.protocol_account, "tip fee transfer")
        if dest in (tok.protocol_account, tok.escrow_account, ata(payer, tok.mint)):
            raise _bad("tip tx pays a wrong account")
        if creates is not False and ata(creates, tok.mint) != dest:
            raise _bad("tip tx creates an account it does not pay")
        return TipTx(str(payer), str(dest), net + fee, fee, nonce, blockhash, creates is not False)
    raise _bad("tx memo is not an Arena payment")
