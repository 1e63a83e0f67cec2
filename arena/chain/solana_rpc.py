"""The few Solana JSON-RPC calls the ledger makes, over solana-py's AsyncClient.

`solana.rpc.async_api.AsyncClient` runs under trio: its HTTP stack is
`httpx2`, which runs on anyio. Measured against the devnet on this machine:
~1 ms per call, 200 concurrent calls fine, trio cancellation clean; raw
`httpx2` was ~0.9 ms, so the typed client costs next to nothing. Two parts
of it are asyncio-only and are not used: `rate_limit` (aiolimiter) and
`confirm_transaction` / `send_transaction(..., skip_confirmation=False)`
(asyncio.sleep). Confirmation is polled here with `getSignatureStatuses`.

Errors come in two kinds, and the difference matters for money:

- `SendRefused`: the node answered `sendTransaction` with an error (e.g. a
  failed preflight simulation). The transaction was not forwarded and will
  not land; `err` is the TransactionError as JSON when the node gave one.
- `RpcUnavailable`: no usable answer (timeout, connection refused, HTTP
  5xx, garbage). For `sendTransaction` this means *unknown*: the
  transaction may or may not have been forwarded.
"""

from __future__ import annotations

import json
import logging
import re

from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction_status import TransactionStatus

_RANK = {"processed": 0, "confirmed": 1, "finalized": 2}

# httpx2 logs every request at INFO with its full URL, and RPC providers put
# API keys in URLs (`...?api-key=`): keep those lines out of the logs.
for _name in ("httpx2", "httpcore2"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)


_URL = re.compile(r"(https?://[^/\s'\"?#]+)[^\s'\"]*")


def scrub(text: str) -> str:
    """Text with every URL cut to its origin: providers put API keys in paths and queries."""
    return _URL.sub(lambda m: m.group(1) + ("/***" if len(m.group(0)) > len(m.group(1)) + 1 else ""), text)


class RpcUnavailable(Exception):
    """The RPC node gave no usable answer."""


class SendRefused(Exception):
    """The node refused a transaction: it was not forwarded and will not land."""

    def __init__(self, message: str, err=None, logs: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.err = err
        self.logs = logs or []


def err_json(err) -> object:
    """A solders TransactionError as the RPC spells it, e.g. {"InstructionError": [0, {"Custom": 1}]}."""
    if err is None:
        return None
    status = TransactionStatus(slot=0, confirmations=None, status=None, err=err, confirmation_status=None)
    return json.loads(status.to_json())["err"]


def _level(status) -> str:
    """'processed' | 'confirmed' | 'finalized' from a TransactionConfirmationStatus."""
    if status is None:
        return "processed"
    return str(status).rsplit(".", 1)[-1].lower()


class Status:
    """What the chain says about one signature."""

    __slots__ = ("slot", "err", "level")

    def __init__(self, slot: int, err, level: str):
        self.slot = slot
        self.err = err
        self.level = level

    def reached(self, commitment: str) -> bool:
        return _RANK.get(self.level, 0) >= _RANK[commitment]

    def __repr__(self) -> str:
        return f"Status(slot={self.slot}, level={self.level}, err={self.err})"


class SolanaRpc:
    def __init__(self, url: str, commitment: str = "confirmed", timeout: float = 10.0):
        if commitment not in _RANK:
            raise ValueError(f"bad commitment {commitment!r}")
        self.url = url
        self.commitment = commitment
        self._commitment = Commitment(commitment)
        self.timeout = timeout
        self._client: AsyncClient | None = None
        self.calls = 0
        self.failures = 0

    @property
    def client(self) -> AsyncClient:
        """The HTTP client, (re)opened on first use after `aclose`."""
        if self._client is None:
            self._client = AsyncClient(self.url, commitment=self._commitment, timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def _call(self, coro, *, rpc_errors: bool = False):
        """Await one RPC call. A JSON-RPC error answer is re-raised as
        RPCException when `rpc_errors`, else (like any failure) as RpcUnavailable."""
        self.calls += 1
        try:
            return await coro
        except RPCException as exc:
            if rpc_errors:
                raise
            self.failures += 1
            raise RpcUnavailable(scrub(f"RPC error: {exc}")[:300]) from None
        except (SolanaRpcException, OSError, ValueError) as exc:
            self.failures += 1
            cause = exc.__cause__ or exc  # SolanaRpcException hides the HTTP error's text
            raise RpcUnavailable(scrub(f"{type(cause).__name__}: {cause}")[:300]) from None

    # --- reads -------------------------------------------------------------------------
    async def latest_blockhash(self) -> tuple[Hash, int]:
        r = await self._call(self.client.get_latest_blockhash(self._commitment))
        return r.value.blockhash, r.value.last_valid_block_height

    async def block_height(self) -> int:
        return (await self._call(self.client.get_block_height(self._commitment))).value

    async def token_balance(self, account: Pubkey) -> int:
        """Base units in a token account; 0 if it does not exist."""
        try:
            r = await self._call(self.client.get_token_account_balance(account, self._commitment), rpc_errors=True)
        except RPCException as exc:
            if "could not find account" in str(exc):
                return 0
            raise RpcUnavailable(scrub(f"getTokenAccountBalance: {exc}")[:300]) from None
        return int(r.value.amount)

    async def sol_balance(self, account: Pubkey) -> int:
        return (await self._call(self.client.get_balance(account, self._commitment))).value

    async def account_data(self, account: Pubkey) -> tuple[Pubkey, bytes] | None:
        """(owner program, data) of an account, or None if it does not exist."""
        r = await self._call(self.client.get_account_info(account, self._commitment, encoding="base64"))
        if r.value is None:
            return None
        return r.value.owner, bytes(r.value.data)

    async def exist(self, accounts: list[Pubkey]) -> list[bool]:
        out: list[bool] = []
        for i in range(0, len(accounts), 100):
            r = await self._call(self.client.get_multiple_accounts(accounts[i:i + 100], self._commitment,
                                                                   encoding="base64"))
            out += [a is not None for a in r.value]
        return out

    async def statuses(self, sigs: list[str]) -> list[Status | None]:
        out: list[Status | None] = []
        for i in range(0, len(sigs), 256):
            chunk = [Signature.from_string(s) for s in sigs[i:i + 256]]
            r = await self._call(self.client.get_signature_statuses(chunk, search_transaction_history=True))
            for st in r.value:
                out.append(None if st is None else Status(st.slot, err_json(st.err), _level(st.confirmation_status)))
        return out

    async def memo_signatures(self, address: Pubkey, limit: int = 1000) -> list[tuple[str, object, str | None]]:
        """(signature, err, memo) of the recent transactions touching `address`, newest first."""
        r = await self._call(self.client.get_signatures_for_address(address, limit=limit,
                                                                    commitment=self._commitment))
        return [(str(x.signature), err_json(x.err), x.memo) for x in r.value]

    # --- sending -------------------------------------------------------------------------
    async def send(self, raw: bytes, *, preflight: bool = True) -> str:
        opts = TxOpts(skip_preflight=not preflight, preflight_commitment=self._commitment, max_retries=None)
        self.calls += 1
        try:
            r = await self.client.send_raw_transaction(raw, opts)
        except RPCException as exc:
            arg = exc.args[0] if exc.args else None
            data = getattr(arg, "data", None)
            err = err_json(getattr(data, "err", None)) if data is not None else None
            logs = list(getattr(data, "logs", None) or []) if data is not None else []
            message = getattr(arg, "message", None) or str(exc)
            raise SendRefused(scrub(str(message))[:500], err, logs) from None
        except (SolanaRpcException, OSError, ValueError) as exc:
            self.failures += 1
            cause = exc.__cause__ or exc
            raise RpcUnavailable(scrub(f"sendTransaction: {type(cause).__name__}: {cause}")[:300]) from None
        return str(r.value)
