"""The two HTTP APIs the BSV ledger talks to: an ARC broadcaster and a
WhatsOnChain-style chain index. Only the calls and fields listed here are
used (docs/BSV.md lists them too), so any service speaking them will do:
the public ARC / WhatsOnChain services, or the local `python -m arena
bsvnet` (a simulated network, for development and tests).

ARC
    `POST {arc}/v1/tx` with JSON `{"rawTx": "<hex>"}` (raw or Extended
    Format), optional `Authorization: Bearer <key>`. 200: `{"txid",
    "txStatus"}`. 4xx: `{"status": int, "title", "detail", "txid"?}`: the
    transaction was refused and will not be mined.
    `GET {arc}/v1/tx/<txid>`: 200 `{"txid", "txStatus", "blockHeight"?}`;
    404: ARC does not know the txid.
    `txStatus` read here: `MINED` (in a block), `SEEN_ON_NETWORK` (and the
    earlier ARC steps, `STORED` … `ACCEPTED_BY_NETWORK`: on its way),
    `REJECTED` and `DOUBLE_SPEND_ATTEMPTED` (it will not be mined).
    `GET {arc}/v1/policy`: `{"policy": {"miningFee": {"satoshis", "bytes"}}}`.

WhatsOnChain
    `GET {woc}/v1/bsv/<net>/address/<address>/unspent`: a list of
    `{"tx_hash", "tx_pos", "value", "height"}` (height 0: unconfirmed).
    `GET {woc}/v1/bsv/<net>/chain/info`: `{"blocks": int, ...}`.

Errors are two kinds, as for the Solana RPC: `BroadcastRefused` (ARC
answered and refused: the transaction will not be mined) and
`ApiUnavailable` (no usable answer; for a broadcast: unknown whether it
left). Neither carries a URL beyond its origin: API keys sit in headers and
paths.
"""

from __future__ import annotations

import logging
import re

import httpx

from arena.chain.solana_rpc import scrub

log = logging.getLogger("arena.chain.bsv_api")

MINED = "MINED"
SEEN = "SEEN_ON_NETWORK"
FINAL_FAILURES = frozenset({"REJECTED", "DOUBLE_SPEND_ATTEMPTED"})
_TXID = re.compile(r"^[0-9a-f]{64}$")

for _name in ("httpx", "httpcore"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.WARNING)


class ApiUnavailable(Exception):
    """The service gave no usable answer."""


class BroadcastRefused(Exception):
    """ARC refused the transaction: it will not be mined."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class TxStatus:
    """What ARC says about one txid."""

    __slots__ = ("txid", "status", "block_height")

    def __init__(self, txid: str, status: str, block_height: int | None):
        self.txid, self.status, self.block_height = txid, status, block_height

    @property
    def mined(self) -> bool:
        return self.status == MINED

    @property
    def failed(self) -> bool:
        return self.status in FINAL_FAILURES

    def reached(self, commitment: str) -> bool:
        """commitment "seen": accepted by the network (0-conf); "mined": in a block."""
        if self.failed:
            return False
        return self.mined or (commitment == "seen" and self.status in (SEEN, "SEEN_IN_ORPHAN_MEMPOOL"))

    def __repr__(self) -> str:
        return f"TxStatus({self.txid[:12]}… {self.status} {self.block_height})"


class Utxo:
    __slots__ = ("txid", "vout", "value", "height")

    def __init__(self, txid: str, vout: int, value: int, height: int):
        self.txid, self.vout, self.value, self.height = txid, vout, value, height

    @property
    def outpoint(self) -> str:
        return f"{self.txid}:{self.vout}"


class BsvApi:
    def __init__(self, arc_url: str, woc_url: str, network: str = "main", *, arc_api_key: str = "",
                 timeout: float = 10.0):
        self.arc_url = arc_url.rstrip("/")
        self.woc_url = woc_url.rstrip("/")
        self.network = network
        self.arc_api_key = arc_api_key
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        self.calls = 0
        self.failures = 0

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def _request(self, method: str, url: str, headers: dict | None = None,
                       body: dict | None = None) -> httpx.Response:
        """One call; ApiUnavailable for no answer or a 5xx (the message keeps only the origin)."""
        self.calls += 1
        try:
            r = await self.client.request(method, url, headers=headers, json=body)
        except httpx.HTTPError as exc:
            self.failures += 1
            raise ApiUnavailable(scrub(f"{type(exc).__name__}: {exc}")) from None
        if r.status_code >= 500:
            self.failures += 1
            raise ApiUnavailable(f"HTTP {r.status_code} from {scrub(url)}")
        return r

    async def _get(self, url: str, headers: dict | None = None) -> httpx.Response:
        return await self._request("GET", url, headers)

    async def _post(self, url: str, body: dict, headers: dict | None = None) -> httpx.Response:
        return await self._request("POST", url, headers, body)

    def _arc_headers(self) -> dict:
        h = {"Content-Type": "application/json"}
        if self.arc_api_key:
            h["Authorization"] = f"Bearer {self.arc_api_key}"
        return h

    @staticmethod
    def _json(r: httpx.Response):
        try:
            return r.json()
        except ValueError:
            raise ApiUnavailable(f"HTTP {r.status_code}: not JSON") from None

    # --- ARC ----------------------------------------------------------------------------
    async def broadcast(self, tx: bytes) -> TxStatus:
        """POST /v1/tx. Raises BroadcastRefused (4xx) or ApiUnavailable (unknown)."""
        r = await self._post(f"{self.arc_url}/v1/tx", {"rawTx": bytes(tx).hex()}, self._arc_headers())
        body = self._json(r)
        if not isinstance(body, dict):
            raise ApiUnavailable("ARC answered something other than an object")
        if r.status_code != 200:
            detail = str(body.get("detail") or body.get("title") or "")[:300]
            raise BroadcastRefused(int(body.get("status") or r.status_code), detail)
        return self._status(body)

    @staticmethod
    def _status(body: dict) -> TxStatus:
        txid, status = body.get("txid"), body.get("txStatus")
        if not isinstance(txid, str) or not _TXID.match(txid) or not isinstance(status, str):
            raise ApiUnavailable("ARC answer without txid/txStatus")
        height = body.get("blockHeight")
        return TxStatus(txid, status, height if type(height) is int else None)

    async def status(self, txid: str) -> TxStatus | None:
        """GET /v1/tx/<txid>; None if ARC does not know it."""
        r = await self._get(f"{self.arc_url}/v1/tx/{txid}", self._arc_headers())
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise ApiUnavailable(f"ARC status answered HTTP {r.status_code}")
        body = self._json(r)
        if not isinstance(body, dict):
            raise ApiUnavailable("ARC status: not an object")
        return self._status(body)

    async def mining_fee(self) -> int | None:
        """The policy's mining fee in satoshis per 1000 bytes (None if not given)."""
        r = await self._get(f"{self.arc_url}/v1/policy", self._arc_headers())
        if r.status_code != 200:
            return None
        fee = (self._json(r) or {}).get("policy", {}).get("miningFee", {})
        sats, size = fee.get("satoshis"), fee.get("bytes")
        if type(sats) is not int or type(size) is not int or size <= 0 or sats < 0:
            return None
        return -(-sats * 1000 // size)

    # --- WhatsOnChain ----------------------------------------------------------------------
    async def unspent(self, address: str) -> list[Utxo]:
        r = await self._get(f"{self.woc_url}/v1/bsv/{self.network}/address/{address}/unspent")
        if r.status_code != 200:
            raise ApiUnavailable(f"unspent answered HTTP {r.status_code}")
        rows = self._json(r)
        if not isinstance(rows, list):
            raise ApiUnavailable("unspent: not a list")
        out = []
        for u in rows:
            if not isinstance(u, dict):
                raise ApiUnavailable("unspent: bad row")
            txid, pos, value, height = u.get("tx_hash"), u.get("tx_pos"), u.get("value"), u.get("height", 0)
            if not (isinstance(txid, str) and _TXID.match(txid) and type(pos) is int and type(value) is int
                    and value >= 0 and type(height) is int):
                raise ApiUnavailable("unspent: bad row")
            out.append(Utxo(txid, pos, value, height))
        return out

    async def height(self) -> int:
        r = await self._get(f"{self.woc_url}/v1/bsv/{self.network}/chain/info")
        body = self._json(r)
        if r.status_code != 200 or not isinstance(body, dict) or type(body.get("blocks")) is not int:
            raise ApiUnavailable("chain/info: no block height")
        return body["blocks"]

    async def faucet(self, address: str, satoshis: int, coins: int = 1) -> None:
        """SIMULATED NETWORK ONLY (`python -m arena bsvnet`): `POST /arena/faucet`,
        `coins` coins summing to `satoshis`. No public service has this call."""
        each, rest = divmod(satoshis, coins)
        for i in range(coins):
            value = each + (rest if i == 0 else 0)
            if value <= 0:
                continue
            r = await self._post(f"{self.woc_url}/arena/faucet", {"address": address, "satoshis": value})
            if r.status_code != 200:
                raise ApiUnavailable(f"faucet answered HTTP {r.status_code}")
