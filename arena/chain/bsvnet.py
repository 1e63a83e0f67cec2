"""`python -m arena bsvnet`: a SIMULATED BSV network on 127.0.0.1, for
development and tests. No real coins, no peers, no proof of work.

It speaks the ARC and WhatsOnChain calls the BSV ledger uses (see
`arena.chain.bsv_api`) over HTTP, and keeps what a node keeps: a UTXO set, a
mempool and a chain of blocks. Every transaction is checked with the BSV
SDK before it is accepted:

- it parses (raw or Extended Format), with at least one input and output;
- every input spends an output that exists and is unspent (a second spend
  of an output is refused as `DOUBLE_SPEND_ATTEMPTED`, the first one wins);
  an EF input must state that output's real satoshis and locking script;
- every unlocking script verifies against the output it spends (the SDK's
  script interpreter, `Spend`);
- outputs do not exceed inputs, and the fee (inputs - outputs) is at least
  the configured rate (`--fee-sat-per-kb`, offered at `GET /v1/policy`).

Refusals use the HTTP status codes this server defines (an ARC-style body
`{"status", "title", "detail", "txid"}`): 461 unlocking script invalid,
462 inputs missing or misstated, 463 malformed, 464 outputs exceed inputs,
465 fee too low. An accepted transaction is `SEEN_ON_NETWORK` and its
outputs are spendable at once (height 0 on the unspent endpoint); mining
makes it `MINED` with a block height.

Blocks are mined every `--block-ms` (0: only on demand). Two calls are not
ARC's or WhatsOnChain's and say so in their path: `POST /arena/mine
{"blocks": n}` mines at once, `POST /arena/faucet {"address", "satoshis"}`
creates coins from nothing (a simulated coinbase). State lives in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from arena.chain import bsv_tx as T

log = logging.getLogger("arena.bsvnet")

MAX_BODY = 1 << 20
DEFAULT_PORT = 18333
DEFAULT_FEE_SAT_PER_KB = 50


class Refused(Exception):
    def __init__(self, status: int, title: str, detail: str):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail


class BsvChain:
    """The simulated network's state; every method holds the lock."""

    def __init__(self, *, fee_sat_per_kb: int = DEFAULT_FEE_SAT_PER_KB):
        self.fee_sat_per_kb = fee_sat_per_kb
        self.lock = threading.Lock()
        self.height = 0
        self.utxos: dict[tuple[str, int], tuple[int, bytes]] = {}  # outpoint -> (value, script)
        self.by_script: dict[bytes, set[tuple[str, int]]] = {}
        self.spent_by: dict[tuple[str, int], str] = {}
        self.txs: dict[str, dict] = {}  # txid -> {"status", "height", "raw"}
        self.mempool: list[str] = []
        self.accepted = 0
        self.refused = 0
        # Conservation: minted == sum of unspent coins + fees collected, always.
        self.minted = 0
        self.fees_collected = 0

    # --- coins -------------------------------------------------------------------------
    def _add_output(self, txid: str, vout: int, value: int, script: bytes) -> None:
        self.utxos[(txid, vout)] = (value, script)
        self.by_script.setdefault(script, set()).add((txid, vout))

    def _spend(self, op: tuple[str, int], txid: str) -> None:
        _, script = self.utxos.pop(op)
        self.by_script[script].discard(op)
        self.spent_by[op] = txid

    def faucet(self, address: str, satoshis: int) -> str:
        """Simulated coinbase: `satoshis` to `address` out of nothing; its txid."""
        script = T.script_of(address)
        with self.lock:
            txid = hashlib.sha256(b"arena-bsvnet-faucet" + secrets.token_bytes(16)).digest()[::-1].hex()
            self._add_output(txid, 0, satoshis, script)
            self.minted += satoshis
            self.txs[txid] = {"status": "SEEN_ON_NETWORK", "height": None, "raw": b""}
            self.mempool.append(txid)
            return txid

    def unspent(self, address: str) -> list[dict]:
        script = T.script_of(address)
        with self.lock:
            rows = []
            for op in sorted(self.by_script.get(script, ())):
                value, _ = self.utxos[op]
                h = self.txs.get(op[0], {}).get("height")
                rows.append({"tx_hash": op[0], "tx_pos": op[1], "value": value, "height": h or 0})
            return rows

    # --- transactions ---------------------------------------------------------------------
    def submit(self, data: bytes) -> dict:
        """Check and accept one transaction; its ARC answer. Raises Refused."""
        try:
            tx = T.parse_ef(data) if T.is_ef(data) else T.parse_raw(data)
        except T.BadTx as exc:
            raise Refused(463, "Malformed transaction", str(exc)) from None
        if not tx.inputs or not tx.outputs:
            raise Refused(463, "Malformed transaction", "no inputs or no outputs")
        raw = T.raw_of(tx)
        txid = tx.txid()
        with self.lock:
            known = self.txs.get(txid)
            if known is not None:
                return self._answer(txid)
            value_in = 0
            seen: set = set()
            for i, inp in enumerate(tx.inputs):
                op = (inp.source_txid, inp.source_output_index)
                if op in seen:
                    raise self._refuse(Refused(462, "Invalid inputs", f"input {i} spends an output twice"))
                seen.add(op)
                if op in self.spent_by:
                    # First seen wins; this one is a competing spend and will never be mined.
                    self.txs[txid] = {"status": "DOUBLE_SPEND_ATTEMPTED", "height": None, "raw": raw,
                                      "competing": [self.spent_by[op]]}
                    self.refused += 1
                    return self._answer(txid)
                have = self.utxos.get(op)
                if have is None:
                    raise self._refuse(Refused(462, "Invalid inputs", f"input {i} spends an unknown output"))
                value, script = have
                if inp.satoshis is not None and T.is_ef(data) and (inp.satoshis != value
                                                                  or inp.locking_script.serialize() != script):
                    raise self._refuse(Refused(462, "Invalid inputs", f"input {i} misstates the output it spends"))
                if not T.input_verifies(tx, i, value, script):
                    raise self._refuse(Refused(461, "Unlocking scripts invalid",
                                               f"input {i}: the unlocking script does not verify"))
                value_in += value
            value_out = sum(o.satoshis for o in tx.outputs)
            if value_out > value_in:
                raise self._refuse(Refused(464, "Invalid outputs", f"outputs {value_out} exceed inputs {value_in}"))
            need = T.fee_for(len(raw), self.fee_sat_per_kb)
            if value_in - value_out < need:
                raise self._refuse(Refused(465, "Fee too low",
                                           f"fee {value_in - value_out} < {need} for {len(raw)} bytes"))
            for inp in tx.inputs:
                self._spend((inp.source_txid, inp.source_output_index), txid)
            for vout, o in enumerate(tx.outputs):
                self._add_output(txid, vout, o.satoshis, o.locking_script.serialize())
            self.txs[txid] = {"status": "SEEN_ON_NETWORK", "height": None, "raw": raw}
            self.mempool.append(txid)
            self.accepted += 1
            self.fees_collected += value_in - value_out
            return self._answer(txid)

    def _refuse(self, exc: Refused) -> Refused:
        self.refused += 1
        return exc

    def _answer(self, txid: str) -> dict:
        t = self.txs[txid]
        out = {"txid": txid, "txStatus": t["status"], "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
        if t["height"] is not None:
            out["blockHeight"] = t["height"]
        if t.get("competing"):
            out["competingTxs"] = t["competing"]
        return out

    def coins_total(self) -> int:
        with self.lock:
            return sum(v for v, _ in self.utxos.values())

    def status(self, txid: str) -> dict | None:
        with self.lock:
            return self._answer(txid) if txid in self.txs else None

    def mine(self, blocks: int = 1) -> int:
        with self.lock:
            for _ in range(blocks):
                self.height += 1
                for txid in self.mempool:
                    t = self.txs[txid]
                    t["status"], t["height"] = "MINED", self.height
                self.mempool = []
            return self.height


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arena-bsvnet (simulated)"
    disable_nagle_algorithm = True
    wbufsize = -1
    chain: BsvChain

    def log_message(self, fmt, *args):
        log.debug("bsvnet: " + fmt, *args)

    def _send(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict | None:
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if not 0 <= n <= MAX_BODY:
            self._send(413, {"status": 413, "title": "Request too large", "detail": ""})
            self.close_connection = True
            return None
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send(400, {"status": 400, "title": "Bad request", "detail": "expected a JSON object"})
            return None
        return body

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        parts = path.split("/")
        c = self.chain
        if path == "/health":
            return self._send(200, {"ok": True, "simulated": True})
        if path == "/v1/policy":
            return self._send(200, {"policy": {"miningFee": {"satoshis": c.fee_sat_per_kb, "bytes": 1000},
                                               "maxtxsizepolicy": T.MAX_TX_BYTES},
                                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if len(parts) == 4 and parts[1:3] == ["v1", "tx"]:
            st = c.status(parts[3].lower())
            return self._send(200, st) if st else self._send(404, {"status": 404, "title": "Not found",
                                                                   "detail": "unknown txid"})
        # /v1/bsv/<net>/address/<addr>/unspent ; /v1/bsv/<net>/chain/info
        if len(parts) == 7 and parts[1:3] == ["v1", "bsv"] and parts[4] == "address" and parts[6] == "unspent":
            from arena.chain.keys import is_bsv_address

            if not is_bsv_address(parts[5]):
                return self._send(400, {"error": "bad address"})
            return self._send(200, c.unspent(parts[5]))
        if len(parts) == 6 and parts[1:3] == ["v1", "bsv"] and parts[4:6] == ["chain", "info"]:
            with c.lock:
                return self._send(200, {"chain": parts[3], "blocks": c.height, "headers": c.height,
                                        "simulated": True})
        self._send(404, {"status": 404, "title": "Not found", "detail": path[:100]})

    def do_POST(self):
        path = self.path.split("?")[0].rstrip("/")
        body = self._body()
        if body is None:
            return
        c = self.chain
        if path == "/v1/tx":
            raw_hex = body.get("rawTx")
            try:
                data = bytes.fromhex(raw_hex) if isinstance(raw_hex, str) else None
            except ValueError:
                data = None
            if data is None:
                return self._send(463, {"status": 463, "title": "Malformed transaction", "detail": "rawTx: hex"})
            try:
                return self._send(200, c.submit(data))
            except Refused as exc:
                return self._send(exc.status, {"status": exc.status, "title": exc.title, "detail": exc.detail})
        if path == "/arena/mine":
            n = body.get("blocks", 1)
            if type(n) is not int or not 0 < n <= 1000:
                return self._send(400, {"error": "blocks: 1..1000"})
            return self._send(200, {"height": c.mine(n), "simulated": True})
        if path == "/arena/faucet":
            from arena.chain.keys import is_bsv_address

            addr, sats = body.get("address"), body.get("satoshis")
            if not is_bsv_address(addr) or type(sats) is not int or not 0 < sats <= 10**12:
                return self._send(400, {"error": "address, satoshis (1..1e12)"})
            return self._send(200, {"txid": c.faucet(addr, sats), "simulated": True})
        self._send(404, {"status": 404, "title": "Not found", "detail": path[:100]})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


class BsvNetServer:
    """The simulated network's HTTP server (ARC + WhatsOnChain on one port)."""

    def __init__(self, chain: BsvChain, host: str = "127.0.0.1", port: int = DEFAULT_PORT, block_ms: int = 0):
        self.chain = chain
        self.httpd = _HTTPServer((host, port), type("BsvNetHandler", (_Handler,), {"chain": chain}))
        self.host, self.port = host, self.httpd.server_address[1]
        self.block_ms = block_ms
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _miner(self) -> None:
        while not self._stop.wait(self.block_ms / 1000):
            self.chain.mine(1)

    def start(self) -> BsvNetServer:
        self._threads.append(threading.Thread(target=self.httpd.serve_forever, name="arena-bsvnet", daemon=True))
        if self.block_ms > 0:
            self._threads.append(threading.Thread(target=self._miner, name="arena-bsvnet-miner", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(5)


def ledger_section(url: str, escrow_wif_env: str, fees: dict[str, str], faucet_amount: int) -> str:
    return (
        "# Written by `python -m arena bsvnet`: a SIMULATED BSV network (no real coins).\n"
        f"# The escrow key is not in this file: export {escrow_wif_env} (see the WIF file next to it).\n"
        "[ledger]\n"
        'kind = "bsv"\n'
        f'arc_url = "{url}"\n'
        f'woc_url = "{url}"\n'
        'bsv_network = "main"\n'
        f'fee_creator = "{fees["creator"]}"\n'
        f'fee_partner = "{fees["partner"]}"\n'
        f'fee_protocol = "{fees["protocol"]}"\n'
        f"faucet_amount = {faucet_amount}\n"
    )


def add_arguments(p) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"HTTP port (default {DEFAULT_PORT}; 0 = any)")
    p.add_argument("--block-ms", type=int, default=10_000, help="mine a block every N ms (0: only on demand)")
    p.add_argument("--fee-sat-per-kb", type=int, default=DEFAULT_FEE_SAT_PER_KB)
    p.add_argument("--config-out", default=None, metavar="FILE",
                   help="write a [ledger] section for this network (with fresh fee addresses) to FILE, "
                        "and the escrow key's WIF to FILE.escrow.wif")
    p.add_argument("--faucet-amount", type=int, default=100_000)
    p.add_argument("--escrow-float", type=int, default=1_000_000,
                   help="satoshis the faucet gives the escrow key at start, for network fees")
    p.add_argument("--log-level", default="INFO")


def main_from_args(args) -> int:
    from bsv.keys import PrivateKey

    from arena import logs

    logs.setup(args.log_level)
    try:
        chain = BsvChain(fee_sat_per_kb=args.fee_sat_per_kb)
        server = BsvNetServer(chain, args.host, args.port, args.block_ms)
    except (OSError, ValueError) as exc:
        print(f"arena bsvnet: cannot start: {exc}", file=sys.stderr)
        return 2
    if args.config_out:
        out = Path(args.config_out)
        out.parent.mkdir(parents=True, exist_ok=True)
        escrow = PrivateKey()
        wif_path = out.with_name(out.name + ".escrow.wif")
        fd = os.open(wif_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(escrow.wif() + "\n")
        for _ in range(20):  # the float: many small coins so payments need not wait for change
            chain.faucet(escrow.address(), max(1, args.escrow_float // 20))
        fees = {n: PrivateKey().address() for n in ("creator", "partner", "protocol")}
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(ledger_section(server.url, "ARENA_BSV_ESCROW_WIF", fees, args.faucet_amount))
        os.replace(tmp, out)
    print(f"arena bsvnet: SIMULATED BSV network (ARC + WhatsOnChain API) on {server.url}, "
          f"a block every {args.block_ms} ms" + (f"; [ledger] config in {args.config_out}" if args.config_out
                                                  else "") + "; Ctrl-C stops", file=sys.stderr, flush=True)
    server.start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("arena bsvnet: stopped", file=sys.stderr)
    finally:
        server.stop()
    return 0
