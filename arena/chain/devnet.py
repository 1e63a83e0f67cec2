"""`python -m arena devnet`: a local Solana network for development and tests.

It serves the Solana JSON-RPC methods the Solana ledger uses, over HTTP on
127.0.0.1, backed by a real in-process Solana runtime:
`solders.litesvm.LiteSVM()`, which executes the real SPL Token, Associated
Token Account and SPL Memo programs. On start it creates the ROAST mint
(6 decimals), the escrow authority and its token account, and three fee
wallets with their token accounts, and can write the `[ledger]` section a
server needs (`--config-out`).

What a node does beyond executing transactions is modelled here, so the
ledger sees what it would see on a public cluster:

- Slots advance with wall-clock time (`--slot-ms`, default 400 ms), each
  with a fresh blockhash; a blockhash is valid for `--valid-slots` (150)
  slots, after which `sendTransaction` fails with `BlockhashNotFound` (a
  transaction can never land once its blockhash has expired).
- A landed transaction is `processed` at once, `confirmed` after
  `--confirm-slots` (1) slots and `finalized` after 32.
- Preflight: unless `skipPreflight`, a transaction is simulated first and a
  failing one is refused with JSON-RPC error -32002 and never lands. With
  `skipPreflight` a failing transaction lands with its error (as on a real
  cluster); one that cannot be executed at all (bad signature, unknown
  blockhash) is dropped.
- History: `getTransaction`, `getSignatureStatuses` and
  `getSignaturesForAddress` (with the `memo` field) answer from this
  process's history; `requestAirdrop` always works.

One method is not Solana's: `arena_advanceSlots [n]` moves the clock `n`
slots forward at once, so tests can expire blockhashes without waiting.
The ledger never calls it.

State lives in memory: restarting the devnet starts a new chain.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import TransactionStatus

from arena.chain.b58 import b58decode, b58encode

log = logging.getLogger("arena.devnet")

DEFAULT_PORT = 8899
DECIMALS = 6
SLOT_MS = 400
VALID_SLOTS = 150
CONFIRM_SLOTS = 1
FINALIZE_SLOTS = 32
ESCROW_LAMPORTS = 1_000 * 10**9  # SOL for the escrow authority's fees and rent
MAX_BODY = 1 << 20
MAX_BATCH = 100

MEMO_PROGRAMS = frozenset({
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",  # SPL Memo v2 (signer checks)
    "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo",  # SPL Memo v1
})

# JSON-RPC error codes as a Solana node uses them.
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
PARSE_ERROR = -32700
SEND_TX_PREFLIGHT_FAILURE = -32002
TX_SIGNATURE_VERIFICATION_FAILURE = -32003


class RpcError(Exception):
    def __init__(self, code: int, message: str, data=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict:
        err = {"code": self.code, "message": self.message}
        if self.data is not None:
            err["data"] = self.data
        return err


def err_to_json(err) -> object:
    """A solders TransactionError as the RPC spells it (e.g. {"InstructionError": [0, {"Custom": 1}]})."""
    if err is None:
        return None
    status = TransactionStatus(slot=0, confirmations=None, status=None, err=err, confirmation_status=None)
    return json.loads(status.to_json())["err"]


def _pubkey(value) -> Pubkey:
    try:
        return Pubkey.from_string(value)
    except Exception:  # noqa: BLE001
        raise RpcError(INVALID_PARAMS, f"Invalid param: Invalid pubkey {value!r}") from None


class _Landed:
    """One transaction in the history."""

    __slots__ = ("signature", "slot", "raw", "err", "fee", "logs", "memo", "block_time", "accounts")

    def __init__(self, signature, slot, raw, err, fee, logs, memo, block_time, accounts):
        self.signature = signature
        self.slot = slot
        self.raw = raw
        self.err = err
        self.fee = fee
        self.logs = logs
        self.memo = memo
        self.block_time = block_time
        self.accounts = accounts


class DevnetChain:
    """LiteSVM plus the bookkeeping of a node (slots, blockhashes, history).

    Thread-safe: every public method takes `self.lock`.
    """

    def __init__(self, *, slot_ms: int = SLOT_MS, valid_slots: int = VALID_SLOTS,
                 confirm_slots: int = CONFIRM_SLOTS, clock=time.monotonic):
        from solders.litesvm import LiteSVM

        if slot_ms <= 0 or valid_slots <= 0 or confirm_slots < 0:
            raise ValueError("slot_ms and valid_slots must be positive, confirm_slots >= 0")
        self.lock = threading.RLock()
        # The node checks blockhashes itself (LiteSVM only knows its latest
        # one, a real node accepts any of the last `valid_slots`).
        self.svm = LiteSVM().with_blockhash_check(False)
        self.slot_ms = slot_ms
        self.valid_slots = valid_slots
        self.confirm_slots = confirm_slots
        self.clock = clock
        self._t0 = clock()
        self._offset = 0  # slots added by arena_advanceSlots
        self.slot = 1
        self.genesis = str(self.svm.latest_blockhash())
        self._hashes: deque[tuple[str, int]] = deque()  # (blockhash, slot), oldest first
        self._hash_slot: dict[str, int] = {}
        self._push_hash(str(self.svm.latest_blockhash()), self.slot)
        self.history: dict[str, _Landed] = {}
        self.by_address: dict[str, list[str]] = {}
        self.stats = {"sent": 0, "landed": 0, "failed": 0, "refused": 0, "dropped": 0}

    # --- time -------------------------------------------------------------------
    def _push_hash(self, h: str, slot: int) -> None:
        self._hashes.append((h, slot))
        self._hash_slot[h] = slot
        while self._hashes and self._hashes[0][1] < slot - self.valid_slots - 1:
            old, _ = self._hashes.popleft()
            self._hash_slot.pop(old, None)

    def _tick(self) -> None:
        target = 1 + int((self.clock() - self._t0) * 1000 // self.slot_ms) + self._offset
        if target <= self.slot:
            return
        # Only the last `valid_slots` blockhashes matter: skip the rest.
        first = max(self.slot + 1, target - self.valid_slots - 1)
        for s in range(first, target + 1):
            self.svm.expire_blockhash()
            self._push_hash(str(self.svm.latest_blockhash()), s)
        self.slot = target

    def advance(self, n: int) -> int:
        with self.lock:
            self._offset += n
            self._tick()
            return self.slot

    def _block_time(self) -> int:
        return int(time.time())

    def _blockhash_valid(self, h: str) -> bool:
        s = self._hash_slot.get(h)
        return s is not None and self.slot - s <= self.valid_slots

    def _status_of(self, landed: _Landed) -> str:
        age = self.slot - landed.slot
        if age >= FINALIZE_SLOTS:
            return "finalized"
        if age >= self.confirm_slots:
            return "confirmed"
        return "processed"

    # --- executing ------------------------------------------------------------------
    def _record(self, sig: str, raw: bytes | None, tx, meta, err, accounts: list[str]) -> _Landed:
        memos = []
        if tx is not None:
            msg = tx.message
            keys = [str(k) for k in msg.account_keys]
            for ix in msg.instructions:
                if keys[ix.program_id_index] in MEMO_PROGRAMS:
                    text = bytes(ix.data).decode("utf-8", "replace")
                    memos.append(f"[{len(text.encode())}] {text}")
        landed = _Landed(
            signature=sig, slot=self.slot, raw=raw, err=err,
            fee=5000 * (len(tx.signatures) if tx is not None else 1),
            logs=list(meta.logs()) if meta is not None else [],
            memo="; ".join(memos) or None, block_time=self._block_time(), accounts=accounts,
        )
        self.history[sig] = landed
        for a in dict.fromkeys(accounts):
            self.by_address.setdefault(a, []).append(sig)
        return landed

    def submit(self, raw: bytes, *, skip_preflight: bool = False) -> str:
        """sendTransaction: returns the signature or raises RpcError."""
        with self.lock:
            self._tick()
            self.stats["sent"] += 1
            try:
                tx = VersionedTransaction.from_bytes(raw)
            except Exception as exc:  # noqa: BLE001
                raise RpcError(INVALID_PARAMS, f"failed to deserialize transaction: {exc}") from None
            if not tx.signatures:
                raise RpcError(INVALID_PARAMS, "transaction has no signatures")
            sig = str(tx.signatures[0])
            try:
                sig_ok = all(tx.verify_with_results())
            except Exception:  # noqa: BLE001
                sig_ok = False
            if not sig_ok:
                self.stats["refused"] += 1
                raise RpcError(TX_SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure")
            if sig in self.history:
                if skip_preflight:
                    return sig
                self.stats["refused"] += 1
                raise self._preflight_error("AlreadyProcessed", "This transaction has already been processed", [])
            if not self._blockhash_valid(str(tx.message.recent_blockhash)):
                if skip_preflight:
                    self.stats["dropped"] += 1
                    return sig  # accepted by the node, then dropped: it can never land
                self.stats["refused"] += 1
                raise self._preflight_error("BlockhashNotFound", "Blockhash not found", [])
            if not skip_preflight:
                sim = self.svm.simulate_transaction(tx)
                if isinstance(sim, FailedTransactionMetadata):
                    self.stats["refused"] += 1
                    err = err_to_json(sim.err())
                    raise self._preflight_error(err, _describe_err(err), list(sim.meta().logs()))
            res = self.svm.send_transaction(tx)
            keys = [str(k) for k in tx.message.account_keys]
            if isinstance(res, FailedTransactionMetadata):
                err = err_to_json(res.err())
                if not isinstance(err, dict) or "InstructionError" not in err:
                    # Not executable at all (e.g. no SOL for the fee): never lands.
                    self.stats["dropped"] += 1
                    if skip_preflight:
                        return sig
                    raise self._preflight_error(err, _describe_err(err), [])
                self.stats["failed"] += 1
                self._record(sig, raw, tx, res.meta(), err, keys)
                return sig
            self.stats["landed"] += 1
            self._record(sig, raw, tx, res, None, keys)
            return sig

    @staticmethod
    def _preflight_error(err, text: str, logs: list[str]) -> RpcError:
        return RpcError(
            SEND_TX_PREFLIGHT_FAILURE,
            f"Transaction simulation failed: {text}",
            {"err": err, "logs": logs, "accounts": None, "unitsConsumed": 0, "returnData": None},
        )

    def airdrop(self, pubkey: Pubkey, lamports: int) -> str:
        with self.lock:
            self._tick()
            res = self.svm.airdrop(pubkey, lamports)
            if isinstance(res, FailedTransactionMetadata):
                raise RpcError(INVALID_PARAMS, f"airdrop failed: {err_to_json(res.err())}")
            sig = str(res.signature())
            self._record(sig, None, None, res, None, [str(pubkey)])
            return sig

    def execute(self, signers: list[Keypair], instructions: list, payer: Keypair | None = None) -> str:
        """Build, sign and land a transaction (set-up and tests); raises on failure."""
        with self.lock:
            self._tick()
            payer = payer or signers[0]
            msg = Message.new_with_blockhash(instructions, payer.pubkey(), self.svm.latest_blockhash())
            tx = Transaction(signers, msg, self.svm.latest_blockhash())
            return self.submit(bytes(tx))

    # --- the arena set-up ------------------------------------------------------------
    def setup_arena(self, escrow: Keypair, *, decimals: int = DECIMALS) -> dict:
        """Create the ROAST mint (mint and freeze authority: the escrow key),
        the escrow token account and three fee wallets with token accounts."""
        from spl.token import instructions as T
        from spl.token.constants import MINT_LEN, TOKEN_PROGRAM_ID
        from spl.token.models import InitializeMint2Params

        with self.lock:
            self.airdrop(escrow.pubkey(), ESCROW_LAMPORTS)
            mint = Keypair()
            fees = {name: Keypair().pubkey() for name in ("creator", "partner", "protocol")}
            rent = self.svm.minimum_balance_for_rent_exemption(MINT_LEN)
            e = escrow.pubkey()
            ixs = [
                create_account(CreateAccountParams(from_pubkey=e, to_pubkey=mint.pubkey(), lamports=rent,
                                                   space=MINT_LEN, owner=TOKEN_PROGRAM_ID)),
                T.initialize_mint2(InitializeMint2Params(
                    program_id=TOKEN_PROGRAM_ID, mint=mint.pubkey(), decimals=decimals,
                    mint_authority=e, freeze_authority=e)),
                T.create_associated_token_account(e, e, mint.pubkey()),
            ]
            ixs += [T.create_associated_token_account(e, owner, mint.pubkey()) for owner in fees.values()]
            self.execute([escrow, mint], ixs)
            return {
                "mint": str(mint.pubkey()),
                "escrow": str(e),
                "escrow_token_account": str(T.get_associated_token_address(e, mint.pubkey())),
                "fee_creator": str(fees["creator"]),
                "fee_partner": str(fees["partner"]),
                "fee_protocol": str(fees["protocol"]),
                "decimals": decimals,
            }

    # --- JSON-RPC ---------------------------------------------------------------------
    def handle(self, request) -> dict | None:
        """One JSON-RPC request object in, one response object out (None for a notification)."""
        if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or not isinstance(request.get("method"), str):
            return {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "Invalid Request"}}
        rid = request.get("id")
        params = request.get("params", [])
        if not isinstance(params, list):
            params = [params]
        fn = getattr(self, "rpc_" + request["method"], None)
        try:
            if fn is None:
                raise RpcError(METHOD_NOT_FOUND, "Method not found")
            with self.lock:
                self._tick()
                result = fn(*params)
        except RpcError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": exc.to_json()}
        except TypeError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": INVALID_PARAMS, "message": f"Invalid params: {exc}"}}
        except Exception as exc:  # noqa: BLE001 - a node answers, it does not crash
            log.exception("devnet: internal error in %s", request["method"])
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32603, "message": f"Internal error: {exc}"}}
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    def _ctx(self) -> dict:
        return {"slot": self.slot, "apiVersion": "2.1.0"}

    # Each rpc_* takes the JSON params positionally, as the RPC spec lists them.
    def rpc_getHealth(self, *_):
        return "ok"

    def rpc_getVersion(self, *_):
        return {"solana-core": "2.1.0-arena-devnet", "feature-set": 0}

    def rpc_getGenesisHash(self, *_):
        return self.genesis

    def rpc_getSlot(self, config=None):
        return self.slot

    def rpc_getBlockHeight(self, config=None):
        return self.slot

    def rpc_getLatestBlockhash(self, config=None):
        h = str(self.svm.latest_blockhash())
        return {"context": self._ctx(), "value": {"blockhash": h, "lastValidBlockHeight": self._hash_slot[h] + self.valid_slots}}

    def rpc_isBlockhashValid(self, blockhash, config=None):
        return {"context": self._ctx(), "value": self._blockhash_valid(str(blockhash))}

    def rpc_getMinimumBalanceForRentExemption(self, size, config=None):
        return self.svm.minimum_balance_for_rent_exemption(int(size))

    def rpc_getBalance(self, address, config=None):
        acct = self.svm.get_account(_pubkey(address))
        return {"context": self._ctx(), "value": acct.lamports if acct is not None else 0}

    def rpc_getAccountInfo(self, address, config=None):
        return {"context": self._ctx(), "value": self._account_json(_pubkey(address), config)}

    def rpc_getMultipleAccounts(self, addresses, config=None):
        if not isinstance(addresses, list) or len(addresses) > 100:
            raise RpcError(INVALID_PARAMS, "Invalid params: expected a list of at most 100 pubkeys")
        return {"context": self._ctx(), "value": [self._account_json(_pubkey(a), config) for a in addresses]}

    def _account_json(self, pk: Pubkey, config) -> dict | None:
        acct = self.svm.get_account(pk)
        if acct is None or (acct.lamports == 0 and not acct.data):
            return None
        encoding = (config or {}).get("encoding", "base64")
        data = bytes(acct.data)
        if encoding == "base58":
            enc = [b58encode(data), "base58"]
        elif encoding in ("base64", "jsonParsed"):
            enc = [base64.b64encode(data).decode(), "base64"]
        else:
            raise RpcError(INVALID_PARAMS, f"Invalid params: unsupported encoding {encoding!r}")
        return {"data": enc, "executable": acct.executable, "lamports": acct.lamports,
                "owner": str(acct.owner), "rentEpoch": 18446744073709551615, "space": len(data)}

    def rpc_getTokenAccountBalance(self, address, config=None):
        from spl.token.constants import ACCOUNT_LEN, TOKEN_PROGRAM_ID

        pk = _pubkey(address)
        acct = self.svm.get_account(pk)
        if acct is None or acct.lamports == 0:
            raise RpcError(INVALID_PARAMS, "Invalid param: could not find account")
        data = bytes(acct.data)
        if acct.owner != TOKEN_PROGRAM_ID or len(data) != ACCOUNT_LEN:
            raise RpcError(INVALID_PARAMS, "Invalid param: not a Token account")
        mint = Pubkey.from_bytes(data[:32])
        amount = int.from_bytes(data[64:72], "little")
        mint_acct = self.svm.get_account(mint)
        decimals = bytes(mint_acct.data)[44] if mint_acct is not None else 0
        ui = f"{amount / 10**decimals:.{decimals}f}".rstrip("0").rstrip(".") if decimals else str(amount)
        return {"context": self._ctx(), "value": {"amount": str(amount), "decimals": decimals,
                                                   "uiAmount": amount / 10**decimals, "uiAmountString": ui}}

    def rpc_requestAirdrop(self, address, lamports, config=None):
        if not isinstance(lamports, int) or lamports <= 0:
            raise RpcError(INVALID_PARAMS, "Invalid params: lamports must be a positive integer")
        return self.airdrop(_pubkey(address), lamports)

    def rpc_sendTransaction(self, encoded, config=None):
        config = config or {}
        encoding = config.get("encoding", "base58")
        try:
            raw = base64.b64decode(encoded, validate=True) if encoding == "base64" else b58decode(encoded)
        except Exception:  # noqa: BLE001
            raise RpcError(INVALID_PARAMS, f"invalid {encoding} encoding of the transaction") from None
        return self.submit(raw, skip_preflight=bool(config.get("skipPreflight", False)))

    def rpc_simulateTransaction(self, encoded, config=None):
        config = config or {}
        encoding = config.get("encoding", "base58")
        raw = base64.b64decode(encoded) if encoding == "base64" else b58decode(encoded)
        try:
            tx = VersionedTransaction.from_bytes(raw)
        except Exception as exc:  # noqa: BLE001
            raise RpcError(INVALID_PARAMS, f"failed to deserialize transaction: {exc}") from None
        if config.get("sigVerify") and not all(tx.verify_with_results()):
            raise RpcError(TX_SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure")
        if not config.get("replaceRecentBlockhash") and not self._blockhash_valid(str(tx.message.recent_blockhash)):
            return {"context": self._ctx(), "value": {"err": "BlockhashNotFound", "logs": [], "accounts": None,
                                                      "unitsConsumed": 0, "returnData": None}}
        sim = self.svm.simulate_transaction(tx)
        if isinstance(sim, FailedTransactionMetadata):
            err, meta = err_to_json(sim.err()), sim.meta()
        else:
            err, meta = None, sim.meta()
        return {"context": self._ctx(), "value": {"err": err, "logs": list(meta.logs()), "accounts": None,
                                                  "unitsConsumed": meta.compute_units_consumed, "returnData": None}}

    def rpc_getSignatureStatuses(self, signatures, config=None):
        if not isinstance(signatures, list) or len(signatures) > 256:
            raise RpcError(INVALID_PARAMS, "Invalid params: expected a list of at most 256 signatures")
        out = []
        for s in signatures:
            landed = self.history.get(s)
            if landed is None:
                out.append(None)
                continue
            status = self._status_of(landed)
            out.append({
                "slot": landed.slot,
                "confirmations": None if status == "finalized" else self.slot - landed.slot,
                "err": landed.err,
                "status": {"Ok": None} if landed.err is None else {"Err": landed.err},
                "confirmationStatus": status,
            })
        return {"context": self._ctx(), "value": out}

    def _visible(self, landed: _Landed, config) -> bool:
        commitment = (config or {}).get("commitment", "finalized")
        rank = {"processed": 0, "confirmed": 1, "finalized": 2}
        return rank[self._status_of(landed)] >= rank.get(commitment, 2)

    def rpc_getTransaction(self, signature, config=None):
        config = config if isinstance(config, dict) else {"encoding": config or "json"}
        if config.get("commitment") == "processed":
            raise RpcError(INVALID_PARAMS, "Method does not support commitment below `confirmed`")
        landed = self.history.get(signature)
        if landed is None or landed.raw is None or not self._visible(landed, config):
            return None
        encoding = config.get("encoding", "json")
        if encoding == "base64":
            txj = [base64.b64encode(landed.raw).decode(), "base64"]
        elif encoding == "base58":
            txj = [b58encode(landed.raw), "base58"]
        else:
            raise RpcError(INVALID_PARAMS, f"Invalid params: this devnet serves encoding base64 or base58, not {encoding!r}")
        return {
            "slot": landed.slot,
            "blockTime": landed.block_time,
            "transaction": txj,
            "version": "legacy",
            "meta": {
                "err": landed.err,
                "status": {"Ok": None} if landed.err is None else {"Err": landed.err},
                "fee": landed.fee,
                "logMessages": landed.logs,
                "preBalances": [], "postBalances": [],
                "preTokenBalances": [], "postTokenBalances": [],
                "innerInstructions": [], "rewards": [],
                "loadedAddresses": {"writable": [], "readonly": []},
            },
        }

    def rpc_getSignaturesForAddress(self, address, config=None):
        config = config or {}
        limit = config.get("limit", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise RpcError(INVALID_PARAMS, "Invalid params: limit must be 1..1000")
        sigs = self.by_address.get(str(_pubkey(address)), [])
        before, until = config.get("before"), config.get("until")
        out = []
        started = before is None
        for s in reversed(sigs):  # newest first
            if not started:
                started = s == before
                continue
            if s == until:
                break
            landed = self.history[s]
            if not self._visible(landed, config):
                continue
            out.append({"signature": s, "slot": landed.slot, "err": landed.err, "memo": landed.memo,
                        "blockTime": landed.block_time, "confirmationStatus": self._status_of(landed)})
            if len(out) >= limit:
                break
        return out

    def rpc_arena_advanceSlots(self, n=1, *_):
        if not isinstance(n, int) or not 0 <= n <= 1_000_000:
            raise RpcError(INVALID_PARAMS, "Invalid params: n must be 0..1000000")
        return self.advance(n)


def _describe_err(err) -> str:
    if isinstance(err, dict) and "InstructionError" in err:
        idx, ierr = err["InstructionError"]
        if isinstance(ierr, dict) and "Custom" in ierr:
            return f"Error processing Instruction {idx}: custom program error: {hex(ierr['Custom'])}"
        return f"Error processing Instruction {idx}: {ierr}"
    return str(err)


# --------------------------------------------------------------------------
# HTTP


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arena-devnet"
    disable_nagle_algorithm = True  # else ~40 ms per keep-alive request (Nagle + delayed ACK)
    wbufsize = -1  # headers and body leave in one write (flushed after each request)
    chain: DevnetChain  # set on the subclass

    def log_message(self, fmt, *args):  # quiet: one line per request is noise
        log.debug("devnet: " + fmt, *args)

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.split("?")[0] == "/health":
            self._send(200, b"ok", "text/plain")
        else:
            self._send(405, b"POST JSON-RPC requests to /\n", "text/plain")

    def do_POST(self):
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if not 0 <= n <= MAX_BODY:
            self._send(413, b"request too large\n", "text/plain")
            self.close_connection = True
            return
        raw = self.rfile.read(n)
        try:
            req = json.loads(raw)
        except ValueError:
            out = {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}}
        else:
            if isinstance(req, list):
                if not req or len(req) > MAX_BATCH:
                    out = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "Invalid Request"}}
                else:
                    out = [r for r in (self.chain.handle(x) for x in req) if r is not None]
            else:
                out = self.chain.handle(req)
        self._send(200, json.dumps(out).encode())


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the default backlog (5) resets bursts of connections


class DevnetServer:
    """The devnet's HTTP JSON-RPC server, in a background thread or the foreground."""

    def __init__(self, chain: DevnetChain, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        handler = type("DevnetHandler", (_Handler,), {"chain": chain})
        self.chain = chain
        self.httpd = _HTTPServer((host, port), handler)
        self.host = host
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> DevnetServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="arena-devnet", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


# --------------------------------------------------------------------------
# Key files and the [ledger] section


def write_keypair(path: str | os.PathLike, kp: Keypair) -> None:
    """Write `kp` as the Solana CLI does (a JSON array of 64 bytes), readable by the owner only."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(list(bytes(kp)), f)
    os.replace(tmp, p)


def ledger_section(setup: dict, rpc_url: str, keypair_path: str, faucet_amount: int) -> str:
    return (
        "# Written by `python -m arena devnet`: a local Solana network (LiteSVM).\n"
        "# The escrow key is the file named below; it never goes into this file.\n"
        "[ledger]\n"
        'kind = "solana"\n'
        f'rpc_url = "{rpc_url}"\n'
        f'mint = "{setup["mint"]}"\n'
        f"escrow_keypair = {json.dumps(str(keypair_path))}\n"
        f'fee_creator = "{setup["fee_creator"]}"\n'
        f'fee_partner = "{setup["fee_partner"]}"\n'
        f'fee_protocol = "{setup["fee_protocol"]}"\n'
        f"faucet_amount = {faucet_amount}\n"
    )


def start_devnet(*, host: str = "127.0.0.1", port: int = 0, escrow: Keypair | None = None,
                 **chain_kwargs) -> tuple[DevnetServer, dict, Keypair]:
    """An in-process devnet in a background thread: (server, setup, escrow key)."""
    chain = DevnetChain(**chain_kwargs)
    escrow = escrow or Keypair()
    setup = chain.setup_arena(escrow)
    server = DevnetServer(chain, host, port).start()
    return server, setup, escrow


# --------------------------------------------------------------------------
# CLI


def add_arguments(p) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"JSON-RPC port (default {DEFAULT_PORT}; 0 = any free port)")
    p.add_argument("--config-out", default=None, metavar="FILE",
                   help="write the [ledger] section a server needs to FILE (a usable config file)")
    p.add_argument("--escrow-keypair", default=None, metavar="FILE",
                   help="escrow authority keypair file; created if missing "
                        "(default: FILE.escrow.keypair.json next to --config-out, else var/devnet-escrow.json)")
    p.add_argument("--faucet-amount", type=int, default=10_000,
                   help="faucet_amount written to --config-out (default 10000)")
    p.add_argument("--slot-ms", type=int, default=SLOT_MS, help=f"milliseconds per slot (default {SLOT_MS})")
    p.add_argument("--valid-slots", type=int, default=VALID_SLOTS,
                   help=f"slots a blockhash stays valid (default {VALID_SLOTS})")
    p.add_argument("--confirm-slots", type=int, default=CONFIRM_SLOTS,
                   help=f"slots before a landed transaction counts as confirmed (default {CONFIRM_SLOTS})")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")


def main_from_args(args) -> int:
    from arena import logs

    logs.setup(args.log_level)
    if not 0 <= args.port < 65536:
        print("arena devnet: --port must be 0..65535", file=sys.stderr)
        return 2
    if args.escrow_keypair:
        key_path = Path(args.escrow_keypair)
    elif args.config_out:
        key_path = Path(args.config_out).with_suffix(".escrow.keypair.json")  # *.keypair.json is git-ignored
    else:
        key_path = Path("var/devnet-escrow.json")
    try:
        if key_path.exists():
            escrow = Keypair.from_bytes(bytes(json.loads(key_path.read_text())))
        else:
            escrow = Keypair()
            write_keypair(key_path, escrow)
    except (OSError, ValueError) as exc:
        print(f"arena devnet: cannot use escrow keypair file {key_path}: {exc}", file=sys.stderr)
        return 2
    try:
        chain = DevnetChain(slot_ms=args.slot_ms, valid_slots=args.valid_slots, confirm_slots=args.confirm_slots)
        setup = chain.setup_arena(escrow)
        server = DevnetServer(chain, args.host, args.port)
    except (OSError, ValueError) as exc:
        print(f"arena devnet: cannot start: {exc}", file=sys.stderr)
        return 2
    if args.config_out:
        out = Path(args.config_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(ledger_section(setup, server.url, str(key_path.resolve()), args.faucet_amount))
        os.replace(tmp, out)  # appears complete or not at all
    print(
        f"arena devnet: Solana JSON-RPC on {server.url} (LiteSVM); mint {setup['mint']}, "
        f"escrow authority {setup['escrow']}"
        + (f"; [ledger] config in {args.config_out}" if args.config_out else "")
        + "; Ctrl-C stops",
        file=sys.stderr, flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("arena devnet: stopped", file=sys.stderr)
    finally:
        server.httpd.server_close()
    return 0
