"""The BSV ledger: money is satoshis, payments and payouts are real BSV
transactions built, signed and checked with the BSV SDK (`bsv-sdk`).

`BsvLedger` implements `arena.chain.port.Ledger` against an ARC broadcaster
and a WhatsOnChain-style index (`arena.chain.bsv_api`): the public services,
or the simulated `python -m arena bsvnet`. docs/BSV.md has the design; in
short:

Accounts
    A wallet is a P2PKH address of the configured network; its balance is
    the sum of its unspent outputs (confirmed or not). `fee:creator|partner|
    protocol` are configured addresses. All escrow is ONE address, the
    escrow key's (the server holds its WIF); `escrow:<match>` is a per-match
    share of it kept in the record store (`SolanaStore`, the chain adapters'
    shared record store): a landed entry fee credits its match, a landed
    settlement debits it. What the escrow address holds beyond the sum of
    the matches' shares is the *float*, the platform's satoshis that pay the
    network fees.

Network fees
    The platform pays them, so a payment of `amount` costs the player
    exactly `amount` on every ledger: each payment transaction has one extra
    input, a float coin of the escrow, whose change (less the fee) returns
    to the escrow. The player's signature (SIGHASH_ALL|FORKID) commits to
    all inputs and outputs, so the escrow signs its input last, at confirm.

Payments (entry fees, tips)
    `build_*` returns the unsigned transaction in Extended Format (the
    player's coins fetched from the index, the float coin, the payment
    outputs, change back to the player, an OP_RETURN memo naming the match
    or tip). The wallet signs its inputs and sends `tx` = the signed EF and
    `signature` = its Bitcoin Signed Message over the built bytes' hex.
    `confirm_*` finds the built transaction by its unsigned digest, checks
    the signed transaction is exactly it, checks the BSM signature and
    every input's unlocking script with the SDK against the coins this
    ledger put in (never the amounts the client states), signs the float
    input, records the payment, then broadcasts it and follows it to the
    commitment (`seen`: accepted by the network; `mined`: in a block).

Settlements
    One transaction per `Settle` from escrow coins, signed with the escrow
    key, recorded (key -> raw transaction, txid) before it is broadcast. A
    retry of a key in flight re-broadcasts the same bytes (same txid: it
    can be mined at most once); a new attempt is built only after the last
    one is known never to be mined, and it spends an input of that attempt
    where one is unspent, so two attempts of a key can never both be mined.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import trio
from bsv.keys import PrivateKey
from bsv.script.type import OpReturn

from arena.chain import bsv_tx as T
from arena.chain.bsv_api import ApiUnavailable, BroadcastRefused, BsvApi, TxStatus, Utxo
from arena.chain.chain_ledger import ACK_WAIT_S, ChainLedgerBase, HiddenKey, bad_request, payment_failed
from arena.chain.keys import is_bsv_address, verify_wallet_signature
from arena.chain.port import PaymentResult, TipResult, check_tip_args
from arena.chain.solana import FEE_NAMES, MAX_MATCH_LEN, faucet_network_ok
from arena.chain.solana_store import Payment, Reserve, SolanaStore
from arena.engine import errors
from arena.engine.errors import ArenaError
from arena.engine.outputs import Settle

log = logging.getLogger("arena.chain.bsv")

FAUCET_CAP_MULTIPLE = 10
FAUCET_COINS = 4  # the faucet pays in a few coins, so a wallet can have several payments built at once
MAX_PLAYER_INPUTS = 50
FLOAT_SPLIT = 20  # coins one split of an escrow coin makes
SETTLE_COMMITMENT = "seen"
FLOAT_LOW = 4     # split when no more free escrow coins than this are left
MEMO_MAX = 200


_bad, _failed = bad_request, payment_failed


def _unavailable(exc: Exception) -> ArenaError:
    log.warning("BSV services unavailable", extra={"error": str(exc)[:300]})
    return ArenaError(errors.INTERNAL, "the BSV network is not reachable right now; try again",
                      retry_after_ms=2000)


def _is_int(x: object) -> bool:
    return type(x) is int


def _memo(text: str) -> bytes:
    """An OP_FALSE OP_RETURN output script carrying `text` (audit trail on chain)."""
    return OpReturn().lock([text[:MEMO_MAX].encode()]).serialize()


# --------------------------------------------------------------------------
# The escrow key


class EscrowKey(HiddenKey):
    """The escrow's private key, kept out of logs.

    The SDK's `PrivateKey` repr shows its WIF, so the key is never an
    attribute that could reach a log line, a repr or an error: only
    `address` is.
    """

    __slots__ = ("_key", "address", "script")

    def __init__(self, key: PrivateKey):
        self._key = key
        self.address: str = key.address()
        self.script: bytes = T.script_of(self.address)

    def sign(self, tx):
        return T.sign_inputs(tx, self._key, self.script)

    def public(self) -> str:
        return self.address


def load_escrow_wif(wif: str, network: str = "main") -> EscrowKey:
    """The escrow key from its WIF (config or ARENA_BSV_ESCROW_WIF); the
    error never repeats the value."""
    from bsv.constants import Network

    if not isinstance(wif, str) or not wif.strip():
        raise ValueError("[ledger] escrow_wif (or ARENA_BSV_ESCROW_WIF) must hold the escrow key's WIF")
    try:
        key = PrivateKey(wif.strip(), network=Network.MAINNET if network == "main" else Network.TESTNET)
    except Exception:  # noqa: BLE001 - the SDK's message may quote the value
        raise ValueError("[ledger] escrow_wif is not a WIF private key") from None
    return EscrowKey(key)


# --------------------------------------------------------------------------
# The ledger


class _Built:
    """A transaction this ledger built and a player may still sign and confirm."""

    __slots__ = ("kind", "tx", "wallet", "match", "to", "amount", "fee", "coins", "short", "expires")

    def __init__(self, kind, tx, wallet, match, to, amount, fee, coins, short, expires):
        self.kind, self.tx, self.wallet, self.match, self.to = kind, tx, wallet, match, to
        self.amount, self.fee, self.coins, self.short, self.expires = amount, fee, coins, short, expires


class BsvLedger(ChainLedgerBase):
    """`arena.chain.port.Ledger` on BSV (see the module docstring)."""

    name = "bsv"
    UNAVAILABLE = (ApiUnavailable,)
    DOWN_STATE = "api_down"
    log = log

    def __init__(
        self,
        arc_url: str,
        woc_url: str,
        escrow: EscrowKey | PrivateKey,
        fee_wallets: dict[str, str],
        *,
        network: str = "main",
        arc_api_key: str = "",
        faucet_amount: int = 0,
        store: SolanaStore | str | os.PathLike = ":memory:",
        adopt_records: str = "",
        commitment: str = "seen",
        fee_sat_per_kb: int = 50,
        confirm_wait_s: float = 5.0,
        poll_s: float = 0.2,
        rebroadcast_s: float = 2.0,
        build_ttl_s: float = 120.0,
        max_pending: int = 100_000,
        max_pending_per_wallet: int = 64,
        api: BsvApi | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not arc_url or not woc_url:
            raise ValueError("[ledger] arc_url and woc_url must be set for the bsv ledger")
        if network not in ("main", "test"):
            raise ValueError("[ledger] bsv_network must be \"main\" or \"test\"")
        if commitment not in ("seen", "mined"):
            raise ValueError("[ledger] bsv_commitment must be \"seen\" or \"mined\"")
        self.network = network
        self.escrow = escrow if isinstance(escrow, EscrowKey) else EscrowKey(escrow)
        if not self._on_network(self.escrow.address):
            raise ValueError(f"the escrow key's address {self.escrow.address} is not a {network}net address")
        missing = [n for n in FEE_NAMES if not fee_wallets.get(n)]
        if missing:
            raise ValueError("[ledger] " + ", ".join(f"fee_{n}" for n in missing)
                             + " must be set (a BSV address) for the bsv ledger")
        for n in FEE_NAMES:
            if not self._on_network(fee_wallets[n]):
                raise ValueError(f"[ledger] fee_{n} {fee_wallets[n]!r} is not a BSV {network}net address")
        self.fee_wallets = {n: fee_wallets[n] for n in FEE_NAMES}
        if not _is_int(faucet_amount) or faucet_amount < 0:
            raise ValueError("faucet_amount must be a non-negative int")
        if not _is_int(fee_sat_per_kb) or fee_sat_per_kb < 0:
            raise ValueError("[ledger] fee_sat_per_kb must be a non-negative int")
        self.arc_url, self.woc_url = arc_url, woc_url
        self.faucet_amount = faucet_amount
        self.faucet_network_ok = faucet_network_ok(arc_url) and faucet_network_ok(woc_url)
        self.store = store if isinstance(store, SolanaStore) else SolanaStore(store)
        self.adopt_records = adopt_records
        self.world: str | None = None
        self.api = api or BsvApi(arc_url, woc_url, network, arc_api_key=arc_api_key)
        self.commitment = commitment
        self.fee_sat_per_kb = fee_sat_per_kb
        self.confirm_wait_s = confirm_wait_s
        self.rebroadcast_s = rebroadcast_s
        self._init_common(build_ttl_s=build_ttl_s, max_pending=max_pending,
                          max_pending_per_wallet=max_pending_per_wallet, poll_s=poll_s, clock=clock)
        self._ready_done = False
        self._ready_lock = trio.Lock()
        self._reserved: dict[str, str] = {}  # outpoint -> what holds it (unsigned digest or settle:<key>)
        self._spent: dict[str, float] = {}  # outpoints our broadcasts spent (the index may lag)
        self._claimed: set[str] = set()  # unsigned digests being confirmed right now
        self._coin_lock = trio.Lock()  # choosing coins and reserving them is one step
        self._wake = trio.Event()
        self.state = "starting"
        self.last_error: str | None = None
        self.stats = {"entries_confirmed": 0, "entries_pending": 0, "tips_confirmed": 0, "tips_pending": 0,
                      "landed_later": 0, "failed_on_chain": 0, "refused": 0, "conflicts": 0,
                      "settled": 0, "settle_attempts": 0, "rebroadcasts": 0, "faucets": 0, "float_splits": 0,
                      "network_fees_paid": 0}

    def __repr__(self) -> str:
        return f"BsvLedger(network={self.network}, escrow={self.escrow.address})"

    async def aclose(self) -> None:
        await self.api.aclose()

    def _on_network(self, address: object) -> bool:
        if not is_bsv_address(address):
            return False
        return (address[0] == "1") == (self.network == "main")

    def pays(self, wallet: str) -> bool:
        """`Ledger.pays`: P2PKH addresses of this ledger's network."""
        return self._on_network(wallet)

    def _wallet(self, wallet: object) -> str:
        if not self._on_network(wallet):
            raise _bad(f"not a BSV {self.network}net address")
        return wallet

    # --- start-up -------------------------------------------------------------------------
    async def _ready(self) -> None:
        if self._ready_done:
            return
        async with self._ready_lock:
            if self._ready_done:
                return
            try:
                policy = await self.api.mining_fee()
            except ApiUnavailable as exc:
                self.state, self.last_error = "api_down", str(exc)
                raise _unavailable(exc) from None
            if policy is not None and policy > self.fee_sat_per_kb:
                log.warning("ARC's mining fee is above [ledger] fee_sat_per_kb; using ARC's",
                            extra={"policy_sat_per_kb": policy, "configured": self.fee_sat_per_kb})
                self.fee_sat_per_kb = policy
            for p in await trio.to_thread.run_sync(self.store.open_payments):
                self._open[p.sig] = p
            for s in await trio.to_thread.run_sync(self.store.open_settlements):
                for op in self._outpoints(s.raw):
                    self._reserved[op] = "settle:" + s.key
            self._ready_done = True
            self.state = "active"
            log.info("bsv ledger ready", extra={"escrow": self.escrow.address, "network": self.network,
                                                "open_payments": len(self._open)})

    @staticmethod
    def _outpoints(ef: bytes | None) -> list[str]:
        if not ef:
            return []
        try:
            tx = T.parse_ef(ef)
        except T.BadTx:
            return []
        return [f"{i.source_txid}:{i.source_output_index}" for i in tx.inputs]

    def _origin(self, url: str) -> str:
        try:
            parts = urlsplit(url)
            return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        except ValueError:
            return "the API"

    # --- balances -------------------------------------------------------------------------
    async def _coins(self, address: str) -> list[Utxo]:
        """The address's unspent coins, less those our own broadcasts spent."""
        coins = await self.api.unspent(address)
        now = self.clock()
        for op, at in list(self._spent.items()):
            if now - at > 60:
                # The index has caught up: it no longer lists the coin, or still
                # does because the spending transaction failed after all.
                del self._spent[op]
        return [c for c in coins if c.outpoint not in self._spent]

    async def balance(self, wallet: str) -> int:
        self._wallet(wallet)
        await self._ready()
        try:
            return sum(c.value for c in await self._coins(wallet))
        except ApiUnavailable as exc:
            raise _unavailable(exc) from None

    async def account_balance(self, account: str) -> int:
        if not isinstance(account, str) or not account:
            raise _bad("account must be a non-empty string")
        await self._ready()
        if account.startswith("escrow:") and len(account) > len("escrow:"):
            return await trio.to_thread.run_sync(self.store.escrow_balance, account[len("escrow:"):])
        if account == "escrow":
            address = self.escrow.address
        elif account == "float":
            return await self.float_balance()
        elif account.startswith("fee:"):
            address = self.fee_wallets.get(account[4:])
            if address is None:
                raise _bad(f"no such fee account {account!r}")
        elif self._on_network(account):
            address = account
        else:
            raise _bad(f"unknown account {account!r}")
        try:
            return sum(c.value for c in await self._coins(address))
        except ApiUnavailable as exc:
            raise _unavailable(exc) from None

    async def float_balance(self) -> int:
        """What the escrow address holds beyond the matches' shares: the fee float."""
        on_chain = await self.account_balance("escrow")
        return on_chain - await trio.to_thread.run_sync(self.store.escrow_total)

    # --- faucet ---------------------------------------------------------------------------
    async def faucet(self, wallet: str) -> int:
        if self.faucet_amount <= 0:
            raise ArenaError(errors.NOT_ALLOWED, "the faucet is disabled")
        self._wallet(wallet)
        if not self.faucet_network_ok:
            raise ArenaError(errors.NOT_ALLOWED, "the faucet only runs against a local simulated network")
        await self._ready()
        try:
            if await self.balance(wallet) >= self.faucet_amount * FAUCET_CAP_MULTIPLE:
                raise ArenaError(errors.NOT_ALLOWED, "balance is high enough; no more faucet")
            await self.api.faucet(wallet, self.faucet_amount, FAUCET_COINS)
        except ApiUnavailable as exc:
            raise _unavailable(exc) from None
        self.stats["faucets"] += 1
        return await self.balance(wallet)

    # --- building payments ------------------------------------------------------------------
    def _forgotten(self, h: str, built: _Built) -> None:
        for op in built.coins:
            if self._reserved.get(op) == h:
                del self._reserved[op]

    def _free(self, coins: list[Utxo]) -> list[Utxo]:
        return [c for c in coins if c.outpoint not in self._reserved]

    @staticmethod
    def _pick(coins: list[Utxo], amount: int) -> list[Utxo] | None:
        """The smallest single coin covering `amount`, else the largest coins
        until they do; None if all of them together fall short."""
        single = [c for c in coins if c.value >= amount]
        if single:
            return [min(single, key=lambda c: (c.value, c.outpoint))]
        out, total = [], 0
        for c in sorted(coins, key=lambda c: (-c.value, c.outpoint))[:MAX_PLAYER_INPUTS]:
            out.append(c)
            total += c.value
            if total >= amount:
                return out
        return None

    async def _build(self, kind: str, wallet: str, pays: list[tuple[bytes, int]], memo: str,
                     *, match=None, to=None, amount: int, fee: int = 0) -> bytes:
        """Build, remember and return the EF of a payment of `amount` by `wallet`."""
        await self._ready()
        self._check_build_room(wallet)
        wallet_script = T.script_of(wallet)
        async with self._coin_lock:
            try:
                mine = await self._coins(wallet)
                float_coins = await self._coins(self.escrow.address)
            except ApiUnavailable as exc:
                raise _unavailable(exc) from None
            picked = self._pick(self._free(mine), amount)
            if picked is None:
                # The wallet's coins are held by its own older, unconfirmed builds: take them
                # anyway. Of payments spending one coin at most one can be mined; the other's
                # confirm then fails with nothing charged, so an abandoned build locks nothing.
                picked = self._pick(mine, amount)
            short = picked is None
            # A wallet short of funds still gets a transaction (over what it has, reserving
            # nothing): confirming it answers insufficient_funds, as on every ledger.
            spend = picked if picked is not None else sorted(mine, key=lambda c: c.outpoint)[:MAX_PLAYER_INPUTS]
            paid_in = sum(c.value for c in spend)
            outputs = [(s, v) for s, v in pays if v > 0]
            change = paid_in - amount
            if change > 0:
                outputs.append((wallet_script, change))
            outputs.append((_memo(memo), 0))
            # The float coin pays the network fee; its change returns to the escrow.
            size = T.estimated_size(len(spend) + 1, [*outputs, (self.escrow.script, 1)])
            net_fee = T.fee_for(size, self.fee_sat_per_kb)
            float_coins = self._free(float_coins)
            if len(float_coins) <= FLOAT_LOW:
                float_coins = await self._split_escrow_coin(float_coins, net_fee)
            sponsor = self._pick(float_coins, net_fee)
            if sponsor is None or len(sponsor) != 1:
                log.error("the escrow's float cannot pay network fees: fund the escrow address",
                          extra={"escrow": self.escrow.address, "need": net_fee})
                raise ArenaError(errors.INTERNAL, "the platform cannot pay the network fee right now",
                                 retry_after_ms=10_000)
            (coin,) = sponsor
            if coin.value - net_fee > 0:
                outputs.append((self.escrow.script, coin.value - net_fee))
            inputs = [T.utxo_input(c.txid, c.vout, c.value, wallet_script) for c in spend]
            inputs.append(T.utxo_input(coin.txid, coin.vout, coin.value, self.escrow.script))
            tx = T.new_tx(inputs, outputs)
            ef = T.to_ef(tx)
            h = T.unsigned_digest(tx)
            coins = [] if short else [c.outpoint for c in spend] + [coin.outpoint]
            for op in coins:
                if op not in self._reserved or not self._reserved[op].startswith("settle:"):
                    self._reserved[op] = h
        self._remember(h, _Built(kind, ef, wallet, match, to, amount, fee, coins, short,
                                 self.clock() + self.build_ttl_s))
        return ef

    async def _split_escrow_coin(self, free: list[Utxo], net_fee: int) -> list[Utxo]:
        """Few free escrow coins are left (each build holds one): split the largest
        into FLOAT_SPLIT coins to the escrow address itself, so many payments can
        be built at once. Returns the free coins after the split (`free` unchanged
        if there was nothing worth splitting or the split failed).

        Value never leaves the escrow address but for the split's own network
        fee (out of the float), so nothing is recorded: a split lost in a crash
        leaves the coin where it was. Called holding the coin lock."""
        if not free:
            return free
        coin = max(free, key=lambda c: (c.value, c.outpoint))
        outs = [(self.escrow.script, 1)] * FLOAT_SPLIT
        fee = T.fee_for(T.estimated_size(1, outs), self.fee_sat_per_kb)
        each = (coin.value - fee) // FLOAT_SPLIT
        if each < max(net_fee, 1) * 2:
            return free
        rest = coin.value - fee - each * FLOAT_SPLIT
        values = [each + (rest if i == 0 else 0) for i in range(FLOAT_SPLIT)]
        tx = T.new_tx([T.utxo_input(coin.txid, coin.vout, coin.value, self.escrow.script)],
                      [(self.escrow.script, v) for v in values])
        self.escrow.sign(tx)
        try:
            st = await self.api.broadcast(T.to_ef(tx))
        except BroadcastRefused as exc:
            log.warning("splitting an escrow coin was refused", extra={"error": exc.message[:200]})
            return free
        except ApiUnavailable as exc:
            # It may have left: the coin counts as spent until the index says otherwise.
            log.warning("splitting an escrow coin: no answer", extra={"error": str(exc)[:200]})
            self._sent(tx, tx.txid())
            return [c for c in free if c is not coin]
        if st.failed:
            return free
        txid = tx.txid()
        self._sent(tx, txid)
        self.stats["float_splits"] += 1
        self.stats["network_fees_paid"] += fee
        log.info("split an escrow coin for the fee float", extra={"txid": txid, "coins": FLOAT_SPLIT})
        return [c for c in free if c is not coin] + [Utxo(txid, i, v, 0) for i, v in enumerate(values)]

    async def build_entry(self, wallet: str, match: str, amount: int) -> bytes:
        self._wallet(wallet)
        if not isinstance(match, str) or not 0 < len(match) <= MAX_MATCH_LEN:
            raise _bad("bad match id")
        if not _is_int(amount) or amount <= 0:
            raise _bad("amount must be a positive integer")
        return await self._build("entry", wallet, [(self.escrow.script, amount)],
                                 f"arena:entry:{match}:{secrets.token_hex(6)}", match=match, amount=amount)

    async def build_tip(self, wallet: str, to: str, amount: int, fee: int) -> bytes:
        check_tip_args(wallet, to, amount, fee)
        self._wallet(wallet)
        if not self._on_network(to):
            raise _bad(f"the BSV ledger pays BSV {self.network}net addresses only")
        if fee == amount:
            raise _bad("a tip must leave the performer something")
        if to == self.escrow.address or to in self.fee_wallets.values():
            raise _bad("cannot tip a platform account")
        pays = [(T.script_of(to), amount - fee), (T.script_of(self.fee_wallets["protocol"]), fee)]
        return await self._build("tip", wallet, pays, f"arena:tip:{secrets.token_hex(6)}",
                                 to=to, amount=amount, fee=fee)

    # --- confirming payments ---------------------------------------------------------------
    def payment_ref(self, tx: bytes) -> bytes:
        """`Ledger.payment_ref`: the unsigned digest, the same for the built
        transaction and the one the wallet signed (bytes that are not a
        transaction stand for themselves, and so match no build)."""
        try:
            return T.unsigned_digest(T.parse_ef(bytes(tx))).encode()
        except T.BadTx:
            return bytes(tx)

    async def confirm_entry(self, wallet: str, match: str, amount: int, tx: bytes, signature: bytes) -> PaymentResult:
        await self._ready()
        signed, built, h = self._match_built(tx)
        if built is not None:
            if built.kind != "entry":
                raise _bad("not an entry payment")
            if built.wallet != wallet:
                raise _bad("tx is not paid by this wallet")
            if built.match != match:
                raise _bad("tx is for another match")
            if built.amount != amount:
                raise _bad("tx amount differs from the entry fee")
        p, status = await self._confirm(signed, built, h, signature, "entry", wallet)
        self.stats["entries_confirmed" if status == "confirmed" else "entries_pending"] += 1
        return PaymentResult(status=status, payment_id=p.sig, match=match, wallet=wallet, amount=amount)

    async def confirm_tip(self, wallet: str, tx: bytes, signature: bytes, *, match: str = "") -> TipResult:
        await self._ready()
        signed, built, h = self._match_built(tx)
        if built is not None:
            if built.kind != "tip":
                raise _bad("not a tip")
            if built.wallet != wallet:
                raise _bad("tx is not paid by this wallet")
        p, status = await self._confirm(signed, built, h, signature, "tip", wallet)
        self.stats["tips_confirmed" if status == "confirmed" else "tips_pending"] += 1
        return TipResult(status=status, payment_id=p.sig, from_wallet=wallet, to_wallet=p.to_wallet,
                         amount=p.amount, fee=p.fee)

    def _match_built(self, tx: object):
        """(signed transaction, the built record or None, unsigned digest)."""
        if not isinstance(tx, (bytes, bytearray)):
            raise _bad("tx must be bytes")
        try:
            signed = T.parse_ef(bytes(tx))
        except T.BadTx as exc:
            raise _bad(f"tx is not a BSV transaction in extended format: {exc}") from None
        h = T.unsigned_digest(signed)
        return signed, self._built.get(h), h

    async def _confirm(self, signed, built: _Built | None, h: str, signature: object, kind: str,
                       wallet: str) -> tuple[Payment, str]:
        if not isinstance(signature, (bytes, bytearray)):
            raise _bad("signature must be bytes")
        if h in self._claimed:
            raise ArenaError(errors.DUPLICATE, "this payment is being confirmed already")
        self._claimed.add(h)
        try:
            return await self._confirm_claimed(signed, built, h, bytes(signature), kind, wallet)
        finally:
            self._claimed.discard(h)

    async def _confirm_claimed(self, signed, built: _Built | None, h: str, sig: bytes, kind: str,
                               wallet: str) -> tuple[Payment, str]:
        if built is None:
            known = await trio.to_thread.run_sync(self.store.payment_by_hash, h)
            if known is not None and known.kind == kind and known.wallet == wallet:
                raise ArenaError(errors.DUPLICATE, "this payment was already confirmed"
                                 + (" (awaiting the network)" if known.state == "submitted" else ""))
            raise _failed("unknown or expired transaction: build the payment again")
        if not verify_wallet_signature(built.wallet, built.tx, sig):
            raise _failed("bad signature")
        if self.clock() >= built.expires:
            self._forget(h)
            raise _failed("unknown or expired transaction: build the payment again")
        # The inputs' scripts, checked against the coins this ledger chose (the
        # EF's stated amounts and scripts are the client's word, never used).
        template = T.parse_ef(built.tx)
        for i, inp in enumerate(template.inputs):
            theirs = signed.inputs[i]
            if theirs.satoshis != inp.satoshis or theirs.locking_script.serialize() != inp.locking_script.serialize():
                raise _bad(f"input {i} misstates the coin it spends")
            if inp.locking_script.serialize() == self.escrow.script:
                if theirs.unlocking_script is not None and theirs.unlocking_script.serialize():
                    raise _bad("the platform's input must be left unsigned")
                continue
            if not T.input_verifies(signed, i, inp.satoshis, inp.locking_script.serialize()):
                raise _failed(f"bad signature: input {i} does not verify")
        if built.short:
            raise ArenaError(errors.INSUFFICIENT_FUNDS, f"the wallet's coins do not cover {built.amount}")
        for i, inp in enumerate(template.inputs):  # the verified scripts, over our amounts
            inp.unlocking_script = signed.inputs[i].unlocking_script
        final = self.escrow.sign(template)
        txid, ef = final.txid(), T.to_ef(final)
        p = Payment(sig=txid, msg_hash=h, kind=kind, wallet=built.wallet, match=built.match, to_wallet=built.to,
                    amount=built.amount, fee=built.fee, raw=ef, blockhash="", last_valid=0, state="submitted",
                    announced=0, created_ms=time.time_ns() // 1_000_000)
        # Recorded before it is sent: whatever happens next, `run` follows it.
        if not await trio.to_thread.run_sync(self.store.add_payment, p):
            self._forget(h)
            raise ArenaError(errors.DUPLICATE, "this payment was already confirmed")
        # Its coins count as spent from here on, so no build made meanwhile takes them.
        self._sent(final, txid)
        self._forget(h)
        self._open[txid] = p
        self._waiting.add(txid)
        try:
            try:
                st = await self.api.broadcast(ef)
            except BroadcastRefused as exc:
                self._open.pop(txid, None)
                self._unsent(ef)
                await trio.to_thread.run_sync(self.store.drop_refused, txid)
                self.stats["refused"] += 1
                raise self._refusal(exc) from None
            except ApiUnavailable:
                log.warning("broadcast answer lost; following the payment", extra={"txid": txid})
                return p, "pending"
            if st.failed:
                await self._resolve(p, "failed", st.status)
                raise _failed(f"the network refused the payment ({st.status}): its coins were spent "
                              "elsewhere; nothing was charged")
            if st.reached(self.commitment):
                await self._resolve(p, "landed")
                outcome = "landed"
            else:
                outcome = await self._follow(p, self.confirm_wait_s)
        finally:
            self._waiting.discard(txid)
        if outcome == "landed":
            return p, "confirmed"
        if outcome == "failed":
            raise _failed(f"the payment failed on the network ({p.detail or 'rejected'}); nothing was charged")
        self._wake.set()
        return p, "pending"

    def _sent(self, tx, txid: str) -> None:
        """`tx` left for the network: its coins count as spent even before the index says so."""
        now = self.clock()
        self._last_sent[txid] = now
        for i in tx.inputs:
            self._spent[f"{i.source_txid}:{i.source_output_index}"] = now

    def _unsent(self, raw: bytes | None) -> None:
        """The transaction will never be mined: its coins are spendable again (if still unspent)."""
        for op in self._outpoints(raw):
            self._spent.pop(op, None)

    @staticmethod
    def _refusal(exc: BroadcastRefused) -> ArenaError:
        if exc.status == 462:
            return _failed(f"the payment's coins are spent or unknown ({exc.message[:160]}); build it again")
        return _failed(f"the network refused the transaction ({exc.status}: {exc.message[:160]})")

    async def _check_open(self, payments: list[Payment], *, announce: bool) -> dict[str, str]:
        out: dict[str, str] = {}
        for p in payments:
            if p.sig not in self._open:
                out[p.sig] = p.state
                continue
            st = await self.api.status(p.sig)
            if st is not None and st.failed:
                await self._resolve(p, "failed", st.status)
                self.stats["failed_on_chain"] += 1
                out[p.sig] = "failed"
            elif st is not None and st.reached(self.commitment):
                await self._resolve(p, "landed", announce=announce)
                out[p.sig] = "landed"
            else:
                out[p.sig] = "pending"
                if st is None and self.clock() - self._last_sent.get(p.sig, 0.0) >= self.rebroadcast_s:
                    await self._rebroadcast_payment(p)
        return out

    async def _rebroadcast_payment(self, p: Payment) -> None:
        """The network does not know it (the broadcast was lost): the same bytes again."""
        self._last_sent[p.sig] = self.clock()
        self.stats["rebroadcasts"] += 1
        try:
            st = await self.api.broadcast(p.raw)
        except ApiUnavailable:
            return
        except BroadcastRefused as exc:
            # Never accepted, and now refused (its coins are gone): it can never be mined.
            await self._resolve(p, "failed", f"refused on re-broadcast: {exc.message[:200]}")
            return
        if st.failed:
            await self._resolve(p, "failed", st.status)

    def _never_lands(self, p: Payment) -> None:
        self._unsent(p.raw)  # its coins are spendable again (where still unspent)

    # --- the side task -----------------------------------------------------------------------
    async def run(self, submit: Callable[[object], object]) -> None:
        """Follow open payments until each is accepted or fails; feed the engine
        (`submit(input)`) the payments that landed after their confirm call
        answered `pending` (or never answered). Runs under a Supervisor."""
        self._submit = submit
        try:
            await self._follow_forever(ACK_WAIT_S)
        finally:
            with trio.CancelScope(shield=True):
                await self.api.aclose()

    # --- settlements ---------------------------------------------------------------------------
    def _settle_plan(self, settle: Settle) -> tuple[dict[str, int], list[tuple[bytes, int]], list]:
        """(debits per match, (locking script, satoshis) outputs, transfers as records)."""
        debits, payouts, records = self._escrow_payouts(settle, lambda d: d if self._on_network(d) else None)
        return debits, [(T.script_of(address), amount) for address, amount in payouts], records

    async def settle(self, settle: Settle) -> None:
        if not isinstance(settle.key, str) or not settle.key:
            raise _bad("settle key must be a non-empty string")
        await self._ready()
        await self._settle_under_key_lock(settle, self._settle_locked)

    async def _settle_locked(self, settle: Settle) -> None:
        key = settle.key
        debits, outputs, records = self._settle_plan(settle)
        rec = await trio.to_thread.run_sync(self.store.settlement, key)
        if rec is not None and rec.transfers and [tuple(t) for t in rec.transfers] != [tuple(t) for t in records]:
            if rec.state in ("done", "sending"):
                self.stats["conflicts"] += 1
                raise ArenaError(errors.KEY_CONFLICT, f"settle {key} was carried out with other transfers: "
                                                      f"{rec.transfers} != {records}")
        if rec is not None and rec.state == "done":
            return
        try:
            prior_inputs: list[str] = []
            if rec is not None and rec.state == "sending":
                # An earlier attempt (before a crash, or one whose outcome was not
                # learnt) may still be mined: resolve it first, with the same bytes.
                if await self._finish_attempt(key, rec.sig, rec.raw):
                    return
            if rec is not None and rec.raw:
                prior_inputs = self._outpoints(rec.raw)
            ef = txid = None
            if outputs:
                ef, txid = await self._settle_tx(key, outputs, prior_inputs)
            outcome, detail = await trio.to_thread.run_sync(
                self.store.reserve_settlement, key, settle.match, debits, records, txid, ef, "", 0)
            if outcome != Reserve.OK and txid is not None:
                self._release("settle:" + key)
            if outcome == Reserve.DONE:
                return
            if outcome == Reserve.IN_FLIGHT:
                raise _failed(f"settle {key}: an earlier attempt is still in flight")
            if outcome == Reserve.INSUFFICIENT:
                self.stats["refused"] += 1
                raise _failed(f"settle {key}: {detail}")
            if txid is None:
                self.stats["settled"] += 1
                return
            self.stats["settle_attempts"] += 1
            if not await self._finish_attempt(key, txid, ef, first=True):
                raise _failed(f"settle {key}: the transaction was not accepted; it will be retried")
        except ApiUnavailable as exc:
            raise _failed(f"settle {key}: the network is unreachable ({str(exc)[:120]}); will retry") from None
        self.stats["settled"] += 1
        log.info("settled", extra={"key": key, "match": settle.match})

    def _release(self, holder: str) -> None:
        for op in [op for op, h in self._reserved.items() if h == holder]:
            del self._reserved[op]

    async def _settle_tx(self, key: str, outputs: list[tuple[bytes, int]], prior: list[str]) -> tuple[bytes, str]:
        """Build and sign the settlement transaction; reserve its coins for `settle:<key>`."""
        holder = "settle:" + key
        total = sum(v for _, v in outputs)
        async with self._coin_lock:
            coins = self._free(await self._coins(self.escrow.address))
            # A new attempt spends an unspent input of the previous one, so the two conflict.
            first = [c for c in coins if c.outpoint in prior][:1]
            rest = [c for c in coins if c not in first]
            memo = (_memo(f"arena:settle:{key}"), 0)
            picked, need = list(first), total
            while True:
                have = sum(c.value for c in picked)
                net_fee = T.fee_for(T.estimated_size(len(picked) + 1, [*outputs, memo, (self.escrow.script, 1)]),
                                    self.fee_sat_per_kb)
                need = total + net_fee
                if have >= need:
                    break
                more = self._pick([c for c in rest if c not in picked], need - have)
                if more is None:
                    raise _failed(f"settle {key}: the escrow address holds too little to pay out "
                                  f"{total} and the network fee")
                picked.extend(more)
            change = sum(c.value for c in picked) - need
            outs = [*outputs, memo] + ([(self.escrow.script, change)] if change > 0 else [])
            tx = T.new_tx([T.utxo_input(c.txid, c.vout, c.value, self.escrow.script) for c in picked], outs)
            self.escrow.sign(tx)
            for c in picked:
                self._reserved[c.outpoint] = holder
        self.stats["network_fees_paid"] += net_fee
        return T.to_ef(tx), tx.txid()

    async def _finish_attempt(self, key: str, txid: str, ef: bytes, *, first: bool = False) -> bool:
        """Broadcast attempt `txid` of `key` (again: the same bytes, idempotent) and
        follow it until it reaches the commitment (True) or can never be mined (False)."""
        holder = "settle:" + key
        tx = T.parse_ef(ef)
        sent_at = None
        while True:
            st: TxStatus | None = None if first else await self.api.status(txid)
            first = False
            if st is None and (sent_at is None or self.clock() - sent_at >= self.rebroadcast_s):
                if sent_at is not None:
                    self.stats["rebroadcasts"] += 1
                sent_at = self.clock()
                try:
                    st = await self.api.broadcast(ef)
                    if not st.failed:
                        self._sent(tx, txid)
                except BroadcastRefused as exc:
                    # Refused: never accepted, so it can never be mined.
                    await trio.to_thread.run_sync(self.store.finish_settlement, key, txid, False,
                                                  f"refused: {exc.status} {exc.message[:200]}")
                    self._release(holder)
                    raise _failed(f"settle {key}: the network refused it: {exc.message[:200]}") from None
                except ApiUnavailable:
                    st = None  # unknown whether it left: ask again, re-broadcast
            if st is not None and st.failed:
                await trio.to_thread.run_sync(self.store.finish_settlement, key, txid, False, st.status)
                self._release(holder)
                self._unsent(ef)
                return False
            # A payout counts once the network has it (SEEN): it spends only escrow
            # coins, which nobody but this ledger can spend again, so unlike a
            # player's payment it cannot be double-spent away before a block.
            if st is not None and st.reached(SETTLE_COMMITMENT):
                await trio.to_thread.run_sync(self.store.finish_settlement, key, txid, True, "")
                self._release(holder)
                return True
            await trio.sleep(self.poll_s)

    # --- world binding and operations -------------------------------------------------------------
    async def bind_world(self, world: str, *, legacy: bool = False) -> None:
        """Bind the record store to `world`; raises `RecordsOfAnotherWorld` if its
        records serve another world (or another network / escrow address)."""
        outcome = await trio.to_thread.run_sync(
            lambda: self.store.bind(world, f"bsv:{self.network}", self.escrow.address,
                                    adopt=self.adopt_records, legacy=legacy))
        self.world = world
        level = logging.WARNING if outcome in ("claimed", "adopted") else logging.INFO
        log.log(level, "bsv ledger records bound", extra={"world": world, "records": self.store.path,
                                                          "outcome": outcome})

    def health(self) -> dict:
        return {
            "name": self.name,
            "state": self.state,
            "real_tokens": True,
            "network": self.network,
            "arc": self._origin(self.arc_url),
            "woc": self._origin(self.woc_url),
            "escrow_address": self.escrow.address,
            "commitment": self.commitment,
            "fee_sat_per_kb": self.fee_sat_per_kb,
            "open_payments": len(self._open),
            "built_unconfirmed": len(self._built),
            "reserved_coins": len(self._reserved),
            "faucet_amount": self.faucet_amount if self.faucet_network_ok else 0,
            "api_calls": self.api.calls,
            "api_failures": self.api.failures,
            "last_error": self.last_error,
            **self.stats,
        }


def records_path(cfg) -> str:
    """`[ledger] records_path`, or `bsv-ledger.sqlite` beside the SQLite store."""
    if cfg.ledger.records == "store":
        return ":memory:"  # a placeholder: the world's own tables take its place before any use
    if cfg.ledger.records_path:
        return cfg.ledger.records_path
    if cfg.store.kind == "embedded":
        return str(Path(cfg.store.path).parent / "bsv-ledger.sqlite")
    return "var/bsv-ledger.sqlite"


def make_bsv_ledger(cfg) -> BsvLedger:
    """The ledger `[ledger] kind = "bsv"` asks for (see docs/BSV.md)."""
    lc = cfg.ledger
    return BsvLedger(
        arc_url=lc.arc_url,
        woc_url=lc.woc_url,
        escrow=load_escrow_wif(lc.escrow_wif, lc.bsv_network),
        fee_wallets={"creator": lc.fee_creator, "partner": lc.fee_partner, "protocol": lc.fee_protocol},
        network=lc.bsv_network,
        arc_api_key=lc.arc_api_key,
        faucet_amount=lc.faucet_amount,
        store=records_path(cfg),
        adopt_records=lc.adopt_records,
        commitment=lc.bsv_commitment,
        fee_sat_per_kb=lc.fee_sat_per_kb,
    )
