"""The Solana ledger: ROAST as an SPL token, real transactions, one escrow.

`SolanaLedger` implements `arena.chain.port.Ledger` against any Solana
JSON-RPC endpoint (the local `python -m arena devnet`, public devnet,
mainnet). docs/SOLANA.md has the design, the runbook and the security notes;
in short:

Accounts
    A wallet is its associated token account (ATA) for the mint.
    `fee:creator|partner|protocol` are the ATAs of the configured fee wallets.
    All escrow is ONE token account, the ATA of the escrow authority (whose
    keypair the server holds); `escrow:<match>` is a per-match share of it,
    kept by this ledger in its record store (`arena.chain.solana_store`):
    a landed entry fee credits its match, a landed settlement debits it.
    Every such transaction carries a memo naming the match (`arena:entry:
    <match>:<nonce>`) or the settlement key (`arena:settle:<key>`), so the
    accounting can be audited against the chain.

Payments (entry fees, tips)
    `build_*` returns the serialized message of a real transaction the player
    signs (fee payer: the player). `confirm_*` checks the bytes are exactly a
    message this ledger built and has not expired, checks the signature,
    records the payment (before sending), sends it with preflight, and polls
    its status for up to `confirm_wait_s`: it answers `confirmed`, or
    `pending` and leaves it to `run`, the side task that follows open
    payments until they land (then it feeds `EntryFeePaid` / `TipSent` to
    the engine), fail, or expire with their blockhash. A signed transaction
    is idempotent on chain, so it is re-broadcast while it may still land.

Settlements
    One transaction per `Settle`, signed by the escrow authority, recorded
    under its key before it is sent. A retry first resolves the previous
    attempt: it waits until that attempt has landed or its blockhash has
    expired (after which it can never land) and looks for the key's memo
    on chain; only then is a new attempt sent. So a crash and restart never
    pays twice.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import stat
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import trio
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction

from arena.chain.chain_ledger import ACK_WAIT_S, ChainLedgerBase, HiddenKey, bad_request, payment_failed
from arena.chain.keys import is_solana_wallet
from arena.chain.keys import verify_wallet_signature
from arena.chain.port import PaymentResult, TipResult, check_tip_args
from arena.chain.solana_rpc import RpcUnavailable, SendRefused, SolanaRpc, Status
from arena.chain.solana_store import Payment, RecordsOfAnotherWorld, Reserve, SolanaStore
from arena.chain.solana_tx import (
    EntryTx,
    TipTx,
    Token,
    ata,
    entry_message,
    faucet_message,
    message_hash,
    parse_payment,
    parse_settle_memo,
    settle_message,
    transfers_digest,
    tip_message,
)
from arena.engine import errors
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle

log = logging.getLogger("arena.chain.solana")

FEE_NAMES = ("creator", "partner", "protocol")
MAX_MATCH_LEN = 128
FAUCET_CAP_MULTIPLE = 10
TOKEN_CUSTOM_INSUFFICIENT_FUNDS = 1
TOKEN_CUSTOM_ACCOUNT_FROZEN = 17
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


_bad, _failed = bad_request, payment_failed


def _unavailable(exc: Exception) -> ArenaError:
    log.warning("chain RPC unavailable", extra={"error": str(exc)[:300]})  # already scrubbed of URLs
    return ArenaError(errors.INTERNAL, "the chain is not reachable right now; try again", retry_after_ms=2000)


def _is_int(x: object) -> bool:
    return type(x) is int


def faucet_network_ok(rpc_url: str) -> bool:
    """True for a loopback RPC or one whose host names devnet/testnet (never mainnet)."""
    try:
        host = (urlsplit(rpc_url).hostname or "").lower()
    except ValueError:
        return False
    if host in LOCAL_HOSTS or host.startswith("127."):
        return True
    return ("devnet" in host or "testnet" in host) and "mainnet" not in host


# --------------------------------------------------------------------------
# The escrow key


class EscrowKey(HiddenKey):
    """The escrow authority's keypair, kept out of logs.

    `str(solders.Keypair)` is the base58 *secret* key, so the keypair is
    never exposed as an attribute that could end up in a log line, a repr,
    a health dict or an error message: only `pubkey` is.
    """

    __slots__ = ("_kp", "pubkey")

    def __init__(self, kp: Keypair):
        self._kp = kp
        self.pubkey: Pubkey = kp.pubkey()

    def sign(self, msg: Message) -> Transaction:
        return Transaction([self._kp], msg, msg.recent_blockhash)

    def public(self) -> Pubkey:
        return self.pubkey


def load_escrow_key(path: str | os.PathLike) -> EscrowKey:
    """Read a Solana CLI keypair file (a JSON array of 64 byte values).

    Errors name the file, never its contents. A file readable by group or
    others is accepted with a warning.
    """
    p = Path(path)
    try:
        mode = p.stat().st_mode
        raw = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"escrow keypair file {p}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
        if not isinstance(data, list) or len(data) != 64 or not all(_is_int(b) and 0 <= b < 256 for b in data):
            raise ValueError
        kp = Keypair.from_bytes(bytes(data))
    except ValueError:
        raise ValueError(f"escrow keypair file {p}: not a Solana keypair file "
                         "(expected a JSON array of 64 numbers, as `solana-keygen` writes)") from None
    finally:
        del raw
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("escrow keypair file is readable by other users; chmod 600 it", extra={"path": str(p)})
    return EscrowKey(kp)


# --------------------------------------------------------------------------
# The ledger


class _Built:
    """A message this ledger built and a player may still sign and confirm."""

    __slots__ = ("kind", "tx", "wallet", "match", "to", "amount", "fee", "blockhash", "last_valid", "expires")

    def __init__(self, kind, tx, wallet, match, to, amount, fee, blockhash, last_valid, expires):
        self.kind, self.tx, self.wallet, self.match, self.to = kind, tx, wallet, match, to
        self.amount, self.fee, self.blockhash, self.last_valid, self.expires = amount, fee, blockhash, last_valid, expires


class SolanaLedger(ChainLedgerBase):
    """`arena.chain.port.Ledger` on Solana (see the module docstring)."""

    name = "solana"
    UNAVAILABLE = (RpcUnavailable,)
    DOWN_STATE = "rpc_down"
    log = log

    def __init__(
        self,
        rpc_url: str,
        mint: str,
        escrow: EscrowKey | Keypair,
        fee_wallets: dict[str, str],
        *,
        faucet_amount: int = 0,
        store: SolanaStore | str | os.PathLike = ":memory:",
        adopt_records: str = "",
        commitment: str = "confirmed",
        confirm_wait_s: float = 5.0,
        poll_s: float = 0.25,
        retry_after_s: float = 60.0,
        rebroadcast_s: float = 2.0,
        build_ttl_s: float = 120.0,
        faucet_lamports: int = 10_000_000,
        max_pending: int = 100_000,
        max_pending_per_wallet: int = 64,
        preflight: bool = True,
        rpc: SolanaRpc | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rpc_url:
            raise ValueError("[ledger] rpc_url must be set for the solana ledger")
        try:
            self.mint = Pubkey.from_string(mint)
        except Exception:  # noqa: BLE001
            raise ValueError(f"[ledger] mint {mint!r} is not a Solana address") from None
        self.escrow = escrow if isinstance(escrow, EscrowKey) else EscrowKey(escrow)
        missing = [n for n in FEE_NAMES if not fee_wallets.get(n)]
        if missing:
            raise ValueError("[ledger] " + ", ".join(f"fee_{n}" for n in missing)
                             + " must be set (a wallet address) for the solana ledger")
        self.fee_wallets: dict[str, Pubkey] = {}
        for n in FEE_NAMES:
            if not is_solana_wallet(fee_wallets[n]):
                raise ValueError(f"[ledger] fee_{n} {fee_wallets[n]!r} is not a wallet address")
            self.fee_wallets[n] = Pubkey.from_string(fee_wallets[n])
        if not _is_int(faucet_amount) or faucet_amount < 0:
            raise ValueError("faucet_amount must be a non-negative int")
        self.rpc_url = rpc_url
        self.faucet_amount = faucet_amount
        self.faucet_lamports = faucet_lamports
        self.faucet_network_ok = faucet_network_ok(rpc_url)
        self.store = store if isinstance(store, SolanaStore) else SolanaStore(store)
        self.adopt_records = adopt_records
        self.world: str | None = None  # set by bind_world before any payment or payout
        self.rpc = rpc or SolanaRpc(rpc_url, commitment)
        self.commitment = commitment
        self.confirm_wait_s = confirm_wait_s
        self.retry_after_s = retry_after_s
        self.rebroadcast_s = rebroadcast_s
        self.preflight = preflight
        self._init_common(build_ttl_s=build_ttl_s, max_pending=max_pending,
                          max_pending_per_wallet=max_pending_per_wallet, poll_s=poll_s, clock=clock)
        # Filled by _ready():
        self.token: Token | None = None
        self.mint_authority: Pubkey | None = None
        self._ready_lock = trio.Lock()
        self._claimed: set[str] = set()          # messages being confirmed right now
        self._wake = trio.Event()
        self.state = "starting"
        self.last_error: str | None = None
        self.stats = {"entries_confirmed": 0, "entries_pending": 0, "tips_confirmed": 0, "tips_pending": 0,
                      "landed_later": 0, "expired": 0, "failed_on_chain": 0, "refused": 0, "conflicts": 0,
                      "settled": 0, "settle_attempts": 0, "rebroadcasts": 0, "faucets": 0}

    def __repr__(self) -> str:
        return f"SolanaLedger(mint={self.mint}, escrow={self.escrow.pubkey})"

    async def aclose(self) -> None:
        await self.rpc.aclose()

    # --- start-up ---------------------------------------------------------------------
    async def _ready(self) -> Token:
        if self.token is not None:
            return self.token
        async with self._ready_lock:
            if self.token is not None:
                return self.token
            try:
                tok = await self._setup()
            except RpcUnavailable as exc:
                self.state, self.last_error = "rpc_down", str(exc)
                raise _unavailable(exc) from None
            except ValueError as exc:  # the mint is wrong: an operator must fix the config
                self.state, self.last_error = "misconfigured", str(exc)
                log.error("solana ledger misconfigured", extra={"error": str(exc)})
                raise ArenaError(errors.INTERNAL, "the ledger is misconfigured") from None
            self.token = tok
            self.state = "active"
            for p in await trio.to_thread.run_sync(self.store.open_payments):
                self._open[p.sig] = p
            log.info("solana ledger ready", extra={
                "mint": str(self.mint), "escrow_account": str(tok.escrow_account),
                "decimals": tok.decimals, "open_payments": len(self._open)})
            return tok

    async def _setup(self) -> Token:
        from spl.token.constants import MINT_LEN, TOKEN_PROGRAM_ID

        info = await self.rpc.account_data(self.mint)
        if info is None:
            raise ValueError(f"mint {self.mint} does not exist on {self._rpc_origin()}")
        owner, data = info
        if owner != TOKEN_PROGRAM_ID or len(data) != MINT_LEN or data[45] != 1:
            raise ValueError(f"{self.mint} is not an initialized SPL Token mint")
        decimals = data[44]
        self.mint_authority = Pubkey.from_bytes(data[4:36]) if int.from_bytes(data[0:4], "little") == 1 else None
        tok = Token(mint=self.mint, decimals=decimals, escrow_authority=self.escrow.pubkey,
                    escrow_account=ata(self.escrow.pubkey, self.mint),
                    protocol_account=ata(self.fee_wallets["protocol"], self.mint))
        # The escrow token account and the fee accounts must exist before
        # players pay into them or payouts pay out to them.
        owners = [self.escrow.pubkey, *self.fee_wallets.values()]
        exist = await self.rpc.exist([ata(o, self.mint) for o in owners])
        missing = [o for o, e in zip(owners, exist) if not e]
        if missing:
            from spl.token.instructions import create_idempotent_associated_token_account

            bh, _ = await self.rpc.latest_blockhash()
            ixs = [create_idempotent_associated_token_account(self.escrow.pubkey, o, self.mint) for o in missing]
            tx = self.escrow.sign(Message.new_with_blockhash(ixs, self.escrow.pubkey, bh))
            sig = await self.rpc.send(bytes(tx))
            if await self._wait_status(sig, 60.0) is None:
                raise RpcUnavailable("creating the escrow/fee token accounts did not confirm")
            log.info("created token accounts", extra={"owners": [str(o) for o in missing]})
        return tok

    def _rpc_origin(self) -> str:
        try:
            parts = urlsplit(self.rpc_url)
            return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        except ValueError:
            return "the RPC"

    # --- balances ---------------------------------------------------------------------------
    def pays(self, wallet: str) -> bool:
        """`Ledger.pays`: Solana wallet addresses (their token accounts are paid)."""
        return is_solana_wallet(wallet)

    async def balance(self, wallet: str) -> int:
        if not is_solana_wallet(wallet):
            raise _bad("not a Solana wallet address")
        await self._ready()
        try:
            return await self.rpc.token_balance(ata(Pubkey.from_string(wallet), self.mint))
        except RpcUnavailable as exc:
            raise _unavailable(exc) from None

    async def account_balance(self, account: str) -> int:
        if not isinstance(account, str) or not account:
            raise _bad("account must be a non-empty string")
        tok = await self._ready()
        if account.startswith("escrow:") and len(account) > len("escrow:"):
            return await trio.to_thread.run_sync(self.store.escrow_balance, account[len("escrow:"):])
        try:
            if account == "escrow":  # the whole escrow token account, on chain
                return await self.rpc.token_balance(tok.escrow_account)
            if account.startswith("fee:"):
                owner = self.fee_wallets.get(account[4:])
                if owner is None:
                    raise _bad(f"no such fee account {account!r}")
                return await self.rpc.token_balance(ata(owner, self.mint))
            if is_solana_wallet(account):
                return await self.rpc.token_balance(ata(Pubkey.from_string(account), self.mint))
        except RpcUnavailable as exc:
            raise _unavailable(exc) from None
        raise _bad(f"unknown account {account!r}")

    def token_account(self, account: str) -> Pubkey:
        """The token account an account name maps to (for operators and tests)."""
        if account.startswith("escrow"):
            return ata(self.escrow.pubkey, self.mint)
        if account.startswith("fee:"):
            return ata(self.fee_wallets[account[4:]], self.mint)
        return ata(Pubkey.from_string(account), self.mint)

    # --- faucet --------------------------------------------------------------------------------
    async def faucet(self, wallet: str) -> int:
        if self.faucet_amount <= 0:
            raise ArenaError(errors.NOT_ALLOWED, "the faucet is disabled")
        if not is_solana_wallet(wallet):
            raise _bad("not a Solana wallet address")
        if not self.faucet_network_ok:
            raise ArenaError(errors.NOT_ALLOWED, "the faucet only runs against a local network, devnet or testnet")
        tok = await self._ready()
        if self.mint_authority != self.escrow.pubkey:
            raise ArenaError(errors.NOT_ALLOWED, "the faucet needs the escrow key to be the mint authority")
        owner = Pubkey.from_string(wallet)
        try:
            bal = await self.rpc.token_balance(ata(owner, self.mint))
            if bal >= self.faucet_amount * FAUCET_CAP_MULTIPLE:
                raise ArenaError(errors.NOT_ALLOWED, "balance is high enough; no more faucet")
            # SOL for the network fees the player pays on its own payments.
            sol = await self.rpc.sol_balance(owner)
            lamports = self.faucet_lamports if sol < self.faucet_lamports // 2 else 0
            bh, _ = await self.rpc.latest_blockhash()
            msg = faucet_message(tok, owner, self.faucet_amount, lamports, secrets.token_hex(6), bh)
            sig = await self.rpc.send(bytes(self.escrow.sign(msg)))
            st = await self._wait_status(sig, 30.0)
        except SendRefused as exc:
            raise _failed(f"faucet transaction refused: {exc.message}") from None
        except RpcUnavailable as exc:
            raise _unavailable(exc) from None
        if st is None or st.err is not None:
            raise _failed("faucet transaction did not confirm")
        self.stats["faucets"] += 1
        return await self.balance(wallet)

    async def _wait_status(self, sig: str, timeout: float) -> Status | None:
        """Poll until `sig` reaches the commitment; None on timeout."""
        with trio.move_on_after(timeout):
            while True:
                st = (await self.rpc.statuses([sig]))[0]
                if st is not None and (st.err is not None or st.reached(self.commitment)):
                    return st
                await trio.sleep(self.poll_s)
        return None

    # --- building payments --------------------------------------------------------------------
    async def build_entry(self, wallet: str, match: str, amount: int) -> bytes:
        if not is_solana_wallet(wallet):
            raise _bad("not a Solana wallet address")
        if not isinstance(match, str) or not 0 < len(match) <= MAX_MATCH_LEN:
            raise _bad("bad match id")
        if not _is_int(amount) or amount <= 0:
            raise _bad("amount must be a positive integer")
        tok = await self._ready()
        self._check_build_room(wallet)
        try:
            bh, last_valid = await self.rpc.latest_blockhash()
        except RpcUnavailable as exc:
            raise _unavailable(exc) from None
        msg = entry_message(tok, Pubkey.from_string(wallet), match, amount, secrets.token_hex(6), bh)
        tx = bytes(msg)
        self._remember(message_hash(tx), _Built("entry", tx, wallet, match, None, amount, 0, str(bh), last_valid,
                                                self.clock() + self.build_ttl_s))
        return tx

    async def build_tip(self, wallet: str, to: str, amount: int, fee: int) -> bytes:
        check_tip_args(wallet, to, amount, fee)
        if not is_solana_wallet(wallet) or not is_solana_wallet(to):
            raise _bad("the Solana ledger pays Solana wallets only")
        if fee == amount:
            raise _bad("a tip must leave the performer something")
        tok = await self._ready()
        self._check_build_room(wallet)
        performer = Pubkey.from_string(to)
        if ata(performer, self.mint) in (tok.protocol_account, tok.escrow_account):
            raise _bad("cannot tip a platform account")
        try:
            (exists,) = await self.rpc.exist([ata(performer, self.mint)])
            bh, last_valid = await self.rpc.latest_blockhash()
        except RpcUnavailable as exc:
            raise _unavailable(exc) from None
        msg = tip_message(tok, Pubkey.from_string(wallet), performer, amount, fee, secrets.token_hex(6), bh,
                          create_ata=not exists)
        tx = bytes(msg)
        self._remember(message_hash(tx), _Built("tip", tx, wallet, None, to, amount, fee, str(bh), last_valid,
                                                self.clock() + self.build_ttl_s))
        return tx

    # --- confirming payments -------------------------------------------------------------------
    async def confirm_entry(self, wallet: str, match: str, amount: int, tx: bytes, signature: bytes) -> PaymentResult:
        tok = await self._ready()
        body = parse_payment(tok, tx)
        if not isinstance(body, EntryTx):
            raise _bad("not an entry payment")
        if body.wallet != wallet:
            raise _bad("tx is not paid by this wallet")
        if body.match != match:
            raise _bad("tx is for another match")
        if body.amount != amount:
            raise _bad("tx amount differs from the entry fee")
        p, status = await self._confirm(bytes(tx), signature, "entry")
        self.stats["entries_confirmed" if status == "confirmed" else "entries_pending"] += 1
        return PaymentResult(status=status, payment_id=p.sig, match=match, wallet=wallet, amount=amount)

    async def confirm_tip(self, wallet: str, tx: bytes, signature: bytes, *, match: str = "") -> TipResult:
        tok = await self._ready()
        body = parse_payment(tok, tx)
        if not isinstance(body, TipTx):
            raise _bad("not a tip")
        if body.wallet != wallet:
            raise _bad("tx is not paid by this wallet")
        p, status = await self._confirm(bytes(tx), signature, "tip")
        self.stats["tips_confirmed" if status == "confirmed" else "tips_pending"] += 1
        return TipResult(status=status, payment_id=p.sig, from_wallet=wallet, to_wallet=p.to_wallet,
                         amount=p.amount, fee=p.fee)

    async def _confirm(self, tx: bytes, signature: object, kind: str) -> tuple[Payment, str]:
        """Check, record, send and follow one signed payment; (payment, "confirmed" | "pending")."""
        if not isinstance(signature, (bytes, bytearray)):
            raise _bad("signature must be bytes")
        sig_bytes = bytes(signature)
        h = message_hash(tx)
        if h in self._claimed:
            raise ArenaError(errors.DUPLICATE, "this payment is being confirmed already")
        self._claimed.add(h)
        try:
            return await self._confirm_claimed(tx, sig_bytes, kind, h)
        finally:
            self._claimed.discard(h)

    async def _confirm_claimed(self, tx: bytes, sig_bytes: bytes, kind: str, h: str) -> tuple[Payment, str]:
        built = self._built.get(h)
        payer = built.wallet if built is not None else None
        if payer is None:
            # Not (or no longer) confirmable: a duplicate of a recorded
            # payment, or a message this ledger did not build / has expired.
            known = await trio.to_thread.run_sync(self.store.payment_by_hash, h)
            if known is not None and verify_wallet_signature(known.wallet, tx, sig_bytes):
                raise ArenaError(errors.DUPLICATE, "this payment was already confirmed"
                                 + (" (awaiting the chain)" if known.state == "submitted" else ""))
            raise _failed("unknown or expired transaction: build the payment again")
        if not verify_wallet_signature(payer, tx, sig_bytes):
            raise _failed("bad signature")
        if self.clock() >= built.expires:
            self._forget(h)
            raise _failed("unknown or expired transaction: build the payment again")
        if kind == "entry":
            self._check_no_entry_in_flight(built)
        try:
            height = await self.rpc.block_height()
            if height > built.last_valid:
                self._forget(h)
                raise _failed("stale blockhash: the transaction expired before it was confirmed; build it again")
            have = await self.rpc.token_balance(ata(Pubkey.from_string(payer), self.mint))
        except RpcUnavailable as exc:
            raise _unavailable(exc) from None
        if have < built.amount:
            raise ArenaError(errors.INSUFFICIENT_FUNDS, f"wallet holds {have}, needs {built.amount}")
        signed = Transaction.populate(Message.from_bytes(tx), [Signature(sig_bytes)])
        raw = bytes(signed)
        sig = str(signed.signatures[0])
        p = Payment(sig=sig, msg_hash=h, kind=kind, wallet=payer, match=built.match, to_wallet=built.to,
                    amount=built.amount, fee=built.fee, raw=raw, blockhash=built.blockhash,
                    last_valid=built.last_valid, state="submitted", announced=0,
                    created_ms=time.time_ns() // 1_000_000)
        # Recorded before it is sent: whatever happens next, the record says
        # this signature may land, and `run` follows it.
        if not await trio.to_thread.run_sync(self.store.add_payment, p):
            self._forget(h)
            raise ArenaError(errors.DUPLICATE, "this payment was already confirmed")
        self._forget(h)
        self._open[sig] = p
        self._waiting.add(sig)
        try:
            try:
                await self.rpc.send(raw, preflight=self.preflight)
                self._last_sent[sig] = self.clock()
            except SendRefused as exc:
                if exc.err == "AlreadyProcessed":
                    pass  # it is on chain already: follow it
                else:
                    # The node did not forward it: it can never land. Forget
                    # the record; where a retry may succeed (after topping up)
                    # the built message stays confirmable.
                    self._open.pop(sig, None)
                    await trio.to_thread.run_sync(self.store.drop_refused, sig)
                    self.stats["refused"] += 1
                    err = self._refusal(exc, kind)
                    if err.code == errors.INSUFFICIENT_FUNDS:
                        self._remember(h, built)
                    raise err from None
            except RpcUnavailable:
                # Unknown whether it was forwarded: it is recorded; `run` re-broadcasts it
                # (same signature, so it can land at most once) until it lands or expires.
                log.warning("sendTransaction failed; following the payment", extra={"sig": sig})
                return p, "pending"
            outcome = await self._follow(p, self.confirm_wait_s)
        finally:
            self._waiting.discard(sig)
        if outcome == "landed":
            return p, "confirmed"
        if outcome == "failed":
            raise _failed(f"the transaction failed on chain ({p.detail or 'error'}); nothing was charged")
        if outcome == "expired":
            raise _failed("the transaction expired before it landed; build the payment again")
        self._wake.set()
        return p, "pending"

    def _check_no_entry_in_flight(self, built: _Built) -> None:
        """RoastPush: one entry payment per (wallet, match) in flight; a retry after `retry_after_s`."""
        now_ms = time.time_ns() // 1_000_000
        for p in self._open.values():
            if p.kind == "entry" and p.wallet == built.wallet and p.match == built.match:
                wait_ms = p.created_ms + int(self.retry_after_s * 1000) - now_ms
                if wait_ms > 0:
                    raise ArenaError(errors.WRONG_STATE,
                                     "an earlier entry payment for this match is still awaiting the chain",
                                     retry_after_ms=wait_ms)

    @staticmethod
    def _refusal(exc: SendRefused, kind: str) -> ArenaError:
        err = exc.err
        if err == "BlockhashNotFound":
            return _failed("stale blockhash: build the payment again")
        if err in ("InsufficientFundsForFee", "AccountNotFound"):
            return ArenaError(errors.INSUFFICIENT_FUNDS, "not enough SOL to pay the network fee")
        if isinstance(err, dict) and "InstructionError" in err:
            _, ierr = err["InstructionError"]
            if isinstance(ierr, dict) and ierr.get("Custom") == TOKEN_CUSTOM_INSUFFICIENT_FUNDS:
                return ArenaError(errors.INSUFFICIENT_FUNDS, "not enough tokens")
            if isinstance(ierr, dict) and ierr.get("Custom") == TOKEN_CUSTOM_ACCOUNT_FROZEN:
                return _failed("the token account is frozen; nothing was charged")
        return _failed(f"the chain refused the transaction: {exc.message[:200]}")

    async def _check_open(self, payments: list[Payment], *, announce: bool) -> dict[str, str]:
        """One round over open payments: resolve those the chain has decided; re-broadcast the rest."""
        if not payments:
            return {}
        sts = await self.rpc.statuses([p.sig for p in payments])
        height: int | None = None
        out: dict[str, str] = {}
        for p, st in zip(payments, sts):
            if p.sig not in self._open:
                out[p.sig] = p.state  # resolved meanwhile
                continue
            if st is not None and st.err is not None:
                await self._resolve(p, "failed", f"on-chain error {json.dumps(st.err)}")
                self.stats["failed_on_chain"] += 1
                out[p.sig] = "failed"
            elif st is not None and st.reached(self.commitment):
                await self._resolve(p, "landed", announce=announce)
                out[p.sig] = "landed"
            elif st is not None:
                out[p.sig] = "pending"  # processed, not yet at our commitment
            else:
                if height is None:
                    height = await self.rpc.block_height()
                if height > p.last_valid:
                    # Its blockhash has expired: it can never land. Ask once
                    # more (it may have landed in the meantime), then close it.
                    (again,) = await self.rpc.statuses([p.sig])
                    if again is None:
                        await self._resolve(p, "expired", "blockhash expired before it landed")
                        self.stats["expired"] += 1
                        out[p.sig] = "expired"
                    else:
                        out[p.sig] = "pending"
                    continue
                out[p.sig] = "pending"
                if self.clock() - self._last_sent.get(p.sig, 0.0) >= self.rebroadcast_s:
                    self._last_sent[p.sig] = self.clock()
                    self.stats["rebroadcasts"] += 1
                    try:
                        await self.rpc.send(p.raw, preflight=False)
                    except (SendRefused, RpcUnavailable):
                        pass  # the status poll decides
        return out

    # --- the side task ---------------------------------------------------------------------------
    async def run(self, submit: Callable[[object], object]) -> None:
        """Follow open payments until each lands, fails or expires; feed the
        engine (`submit(input)`) the `EntryFeePaid` / `TipSent` of payments that
        landed after their confirm call answered `pending` (or never answered:
        a crash, a lost connection). The server runs this under a Supervisor."""
        self._submit = submit
        try:
            await self._follow_forever(ACK_WAIT_S)
        finally:
            # The server is stopping (or this task restarts): close the HTTP
            # connections; the client reopens on the next call.
            with trio.CancelScope(shield=True):
                await self.rpc.aclose()

    # --- settlements ----------------------------------------------------------------------------------
    def _settle_plan(self, settle: Settle) -> tuple[dict[str, int], list[tuple[Pubkey, int]], list[Pubkey], list]:
        """(debits per match, (token account, amount) moves, owners needing an ATA, transfers as records)."""
        debits, payouts, records = self._escrow_payouts(
            settle, lambda d: Pubkey.from_string(d) if is_solana_wallet(d) else None)
        owners: dict[Pubkey, Pubkey] = {}
        moves: list[tuple[Pubkey, int]] = []
        for owner, amount in payouts:
            dest = ata(owner, self.mint)
            owners[dest] = owner
            moves.append((dest, amount))
        return debits, moves, list(owners.values()), records

    async def settle(self, settle: Settle) -> None:
        if not isinstance(settle.key, str) or not settle.key:
            raise _bad("settle key must be a non-empty string")
        await self._ready()
        await self._settle_under_key_lock(settle, self._settle_locked)

    async def _settle_locked(self, settle: Settle) -> None:
        key = settle.key
        tok = self.token
        rec = await trio.to_thread.run_sync(self.store.settlement, key)
        if rec is not None and rec.state == "done":
            # A repeat is a no-op only if it is the same settlement: the same
            # key with other transfers is a conflict, never proof of payment.
            wanted = [tuple(t) for t in self._settle_plan(settle)[3]]
            if rec.transfers and [tuple(t) for t in rec.transfers] != wanted:
                self.stats["conflicts"] += 1
                raise ArenaError(errors.KEY_CONFLICT,
                                 f"settle {key} was carried out with other transfers: "
                                 f"{rec.transfers} != {wanted}")
            return
        sig = raw = bh_s = last_valid = None
        try:
            if rec is not None and rec.state == "sending":
                # An earlier attempt (before a crash, or one whose outcome we
                # did not learn) may still land: settle it first.
                if await self._finish_attempt(key, rec.sig, rec.raw, rec.last_valid):
                    return
            debits, moves, owners, records = self._settle_plan(settle)
            digest = transfers_digest(records)
            if rec is not None:
                # Before any resend: is the key's memo on chain already?
                if await self._memo_on_chain(key, digest, debits, records):
                    return
            if moves:
                exists = await self.rpc.exist([ata(o, self.mint) for o in owners])
                create_for = [o for o, e in zip(owners, exists) if not e]
                bh, last_valid = await self.rpc.latest_blockhash()
                signed = self.escrow.sign(settle_message(tok, key, moves, create_for, bh, digest))
                raw, sig, bh_s = bytes(signed), str(signed.signatures[0]), str(bh)
            outcome, detail = await trio.to_thread.run_sync(
                self.store.reserve_settlement, key, settle.match, debits, records, sig, raw, bh_s, last_valid)
            if outcome == Reserve.DONE:
                return
            if outcome == Reserve.IN_FLIGHT:
                raise _failed(f"settle {key}: an earlier attempt is still in flight")
            if outcome == Reserve.INSUFFICIENT:
                self.stats["refused"] += 1
                raise _failed(f"settle {key}: {detail}")
            if sig is None:
                self.stats["settled"] += 1
                return  # nothing to move
            self.stats["settle_attempts"] += 1
            try:
                await self.rpc.send(raw, preflight=self.preflight)
            except SendRefused as exc:
                if exc.err != "AlreadyProcessed":
                    await trio.to_thread.run_sync(self.store.finish_settlement, key, sig, False,
                                                  f"refused: {exc.message}")
                    raise _failed(f"settle {key}: the chain refused it: {exc.message[:200]}") from None
            except RpcUnavailable:
                pass  # unknown whether it left: _finish_attempt re-broadcasts and decides
            self._last_sent[sig] = self.clock()
            if not await self._finish_attempt(key, sig, raw, last_valid):
                raise _failed(f"settle {key}: the transaction did not land; it will be retried")
        except RpcUnavailable as exc:
            raise _failed(f"settle {key}: chain unreachable ({str(exc)[:120]}); will retry") from None
        finally:
            for attempt in (rec.sig if rec is not None else None, sig):
                self._last_sent.pop(attempt, None)
        self.stats["settled"] += 1
        log.info("settled", extra={"key": key, "match": settle.match})

    async def _finish_attempt(self, key: str, sig: str, raw: bytes, last_valid: int) -> bool:
        """Wait until attempt `sig` of `key` has landed (True) or can no longer land (False)."""
        while True:
            (st,) = await self.rpc.statuses([sig])
            if st is not None and st.err is not None:
                await trio.to_thread.run_sync(self.store.finish_settlement, key, sig, False,
                                              f"on-chain error {json.dumps(st.err)}")
                return False
            if st is not None and st.reached(self.commitment):
                await trio.to_thread.run_sync(self.store.finish_settlement, key, sig, True, "")
                return True
            if st is None and await self.rpc.block_height() > last_valid:
                (again,) = await self.rpc.statuses([sig])
                if again is None:
                    await trio.to_thread.run_sync(self.store.finish_settlement, key, sig, False,
                                                  "blockhash expired before it landed")
                    return False
                continue
            if st is None and self.clock() - self._last_sent.get(sig, 0.0) >= self.rebroadcast_s:
                self._last_sent[sig] = self.clock()
                self.stats["rebroadcasts"] += 1
                try:
                    await self.rpc.send(raw, preflight=False)
                except (SendRefused, RpcUnavailable):
                    pass
            await trio.sleep(self.poll_s)

    async def _memo_on_chain(self, key: str, digest: str, debits: dict[str, int], transfers: list) -> bool:
        """Look for a landed transaction with this settlement's memo (the chain is the last word).

        A memo of `key` with another transfers digest is not proof of payment
        but a conflict: the key was used for other transfers (KEY_CONFLICT).
        A memo from before memos carried a digest counts, as it did then:
        this record store (bound to this world) holds the key's record.
        """
        for sig, err, text in await self.rpc.memo_signatures(self.token.escrow_account):
            if err is not None or not text:
                continue
            for part in text.split("; "):
                parsed = parse_settle_memo(part.split("] ", 1)[-1])
                if parsed is None or parsed[0] != key:
                    continue
                if parsed[1] is not None and parsed[1] != digest:
                    self.stats["conflicts"] += 1
                    raise ArenaError(errors.KEY_CONFLICT,
                                     f"settle {key}: transaction {sig} carried this key with other "
                                     f"transfers (digest {parsed[1]} != {digest})")
                log.warning("settlement found on chain by its memo", extra={"key": key, "sig": sig})
                await trio.to_thread.run_sync(self.store.adopt_settlement, key, sig, debits, transfers)
                return True
        return False

    async def bind_world(self, world: str, *, legacy: bool = False) -> None:
        """Bind the record store to `world` (see `SolanaStore.bind`); raises
        `RecordsOfAnotherWorld` if its records serve another world."""
        outcome = await trio.to_thread.run_sync(
            lambda: self.store.bind(world, str(self.mint), str(self.escrow.pubkey),
                                    adopt=self.adopt_records, legacy=legacy))
        self.world = world
        level = logging.WARNING if outcome in ("claimed", "adopted") else logging.INFO
        log.log(level, "solana ledger records bound", extra={
            "world": world, "records": self.store.path, "outcome": outcome,
            "adopted_from": self.store.binding().get("adopted_from") if outcome == "adopted" else None})

    # --- operations ------------------------------------------------------------------------------------
    def health(self) -> dict:
        tok = self.token
        return {
            "name": self.name,
            "state": self.state,
            "real_tokens": True,
            "rpc": self._rpc_origin(),
            "mint": str(self.mint),
            "escrow_authority": str(self.escrow.pubkey),
            "escrow_account": str(tok.escrow_account) if tok else None,
            "decimals": tok.decimals if tok else None,
            "open_payments": len(self._open),
            "built_unconfirmed": len(self._built),
            "faucet_amount": self.faucet_amount if self.faucet_network_ok else 0,
            "rpc_calls": self.rpc.calls,
            "rpc_failures": self.rpc.failures,
            "last_error": self.last_error,
            **self.stats,
        }


def records_path(cfg) -> str:
    """Where the record store is: `[ledger] records_path`, or by default
    `solana-ledger.sqlite` in the folder of the main store's `[store] path`
    (SQLite), so a world's files sit together whatever the working directory;
    `var/solana-ledger.sqlite` when the store is not a file."""
    if cfg.ledger.records == "store":
        return ":memory:"  # a placeholder: the world's own tables take its place before any use
    if cfg.ledger.records_path:
        return cfg.ledger.records_path
    if cfg.store.kind == "embedded":  # SQLite
        return str(Path(cfg.store.path).parent / "solana-ledger.sqlite")
    return "var/solana-ledger.sqlite"


def make_solana_ledger(cfg) -> SolanaLedger:
    """The ledger `[ledger] kind = "solana"` asks for (see docs/SOLANA.md)."""
    lc = cfg.ledger
    if not lc.escrow_keypair:
        raise ValueError("[ledger] escrow_keypair (or ARENA_ESCROW_KEYPAIR) must name the escrow keypair "
                         "file for the solana ledger")
    return SolanaLedger(
        rpc_url=lc.rpc_url,
        mint=lc.mint,
        escrow=load_escrow_key(lc.escrow_keypair),
        fee_wallets={"creator": lc.fee_creator, "partner": lc.fee_partner, "protocol": lc.fee_protocol},
        faucet_amount=lc.faucet_amount,
        store=records_path(cfg),
        adopt_records=lc.adopt_records,
        commitment=lc.commitment,
    )
