"""BSV transactions for Arena's payments, built, signed and checked with the
BSV SDK (`bsv-sdk`): real P2PKH transactions, nothing simulated here.

Wire format: a payment the server builds travels to the client as the
Extended Format (EF, BRC-30) serialization of the unsigned transaction: the
raw transaction with, for every input, the satoshis and locking script of
the output it spends (marker `0000000000ef` after the version). That is all
a wallet needs to compute the BIP143/FORKID signature hash of its inputs,
and ARC accepts EF directly. The client signs the inputs locked to its
address (`sign_payment`) and sends the signed EF back.

Identity of a payment: `unsigned_digest` hashes the transaction with every
unlocking script blanked, so the built transaction and its signed form have
the same digest (the txid changes once scripts are filled in; BSV has no
segregated witness).

None of the parsing helpers raise on hostile bytes except with `BadTx`.
"""

from __future__ import annotations

import base64
import hashlib
import math

from bsv.constants import SIGHASH
from bsv.script.script import Script
from bsv.script.type import P2PKH
from bsv.transaction import Transaction
from bsv.transaction_input import TransactionInput
from bsv.transaction_output import TransactionOutput
from bsv.utils import Reader

EF_MARKER = bytes.fromhex("0000000000ef")
# A P2PKH unlocking script: push of a DER signature + sighash byte (<= 73),
# push of a compressed public key (33): at most 1 + 73 + 1 + 33 bytes.
P2PKH_UNLOCK_MAX = 108
MAX_TX_BYTES = 100_000
MAX_IO = 500


class BadTx(ValueError):
    """Bytes that are not a transaction this code accepts (the reason says why)."""


def lock(address: str) -> Script:
    """The P2PKH locking script paying `address`."""
    return P2PKH().lock(address)


def script_of(address: str) -> bytes:
    return lock(address).serialize()


def utxo_input(txid: str, vout: int, satoshis: int, locking_script: bytes) -> TransactionInput:
    """An unsigned input spending txid:vout, carrying what its signature hash needs."""
    inp = TransactionInput(source_txid=txid, source_output_index=vout, sighash=SIGHASH.ALL_FORKID)
    inp.satoshis = satoshis
    inp.locking_script = Script(locking_script)
    return inp


def new_tx(inputs: list[TransactionInput], outputs: list[tuple[bytes, int]]) -> Transaction:
    return Transaction(inputs, [TransactionOutput(Script(s), v) for s, v in outputs])


def to_ef(tx: Transaction) -> bytes:
    """EF bytes (BRC-30); works without the source transactions (only their outputs)."""
    out = bytearray(tx.version.to_bytes(4, "little") + EF_MARKER + _varint(len(tx.inputs)))
    for i in tx.inputs:
        script = i.unlocking_script.serialize() if i.unlocking_script is not None else b""
        ls = i.locking_script.serialize()
        out += bytes.fromhex(i.source_txid)[::-1] + i.source_output_index.to_bytes(4, "little")
        out += _varint(len(script)) + script + i.sequence.to_bytes(4, "little")
        out += i.satoshis.to_bytes(8, "little") + _varint(len(ls)) + ls
    out += _varint(len(tx.outputs))
    for o in tx.outputs:
        s = o.locking_script.serialize()
        out += o.satoshis.to_bytes(8, "little") + _varint(len(s)) + s
    out += tx.locktime.to_bytes(4, "little")
    return bytes(out)


def _varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def is_ef(data: bytes) -> bool:
    return isinstance(data, (bytes, bytearray)) and len(data) >= 10 and bytes(data[4:10]) == EF_MARKER


def parse_ef(data: bytes) -> Transaction:
    """Parse EF bytes into a Transaction whose inputs know their satoshis and
    locking scripts. Raises BadTx on anything else (trailing bytes included)."""
    if not isinstance(data, (bytes, bytearray)) or not 10 <= len(data) <= MAX_TX_BYTES:
        raise BadTx("not an extended-format transaction (size)")
    data = bytes(data)
    if data[4:10] != EF_MARKER:
        raise BadTx("not an extended-format transaction (no EF marker)")
    pos = 0

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if n > len(data) - pos:
            raise BadTx(f"truncated transaction ({what})")
        out = data[pos:pos + n]
        pos += n
        return out

    def uint(n: int, what: str) -> int:
        return int.from_bytes(take(n, what), "little")

    def varint(what: str) -> int:
        first = uint(1, what)
        if first < 0xFD:
            return first
        return uint({0xFD: 2, 0xFE: 4, 0xFF: 8}[first], what)

    version = uint(4, "version")
    take(6, "marker")
    n_in = varint("inputs")
    if not 0 < n_in <= MAX_IO:
        raise BadTx("bad input count")
    inputs = []
    for _ in range(n_in):
        txid = take(32, "outpoint")[::-1].hex()
        vout = uint(4, "outpoint")
        unlock = take(varint("script"), "script")
        seq = uint(4, "sequence")
        sats = uint(8, "satoshis")
        ls = take(varint("locking script"), "locking script")
        inp = utxo_input(txid, vout, sats, ls)
        inp.sequence = seq
        inp.unlocking_script = Script(unlock) if unlock else None
        inputs.append(inp)
    n_out = varint("outputs")
    if not 0 < n_out <= MAX_IO:
        raise BadTx("bad output count")
    outputs = []
    for _ in range(n_out):
        sats = uint(8, "value")
        outputs.append((take(varint("output script"), "output script"), sats))
    locktime = uint(4, "locktime")
    if pos != len(data):
        raise BadTx("trailing bytes after the transaction")
    tx = new_tx(inputs, outputs)
    tx.version, tx.locktime = version, locktime
    return tx


def parse_raw(data: bytes) -> Transaction:
    """A plain raw transaction (no source outputs); BadTx if malformed or trailing bytes."""
    if not isinstance(data, (bytes, bytearray)) or not 10 <= len(data) <= MAX_TX_BYTES:
        raise BadTx("bad transaction size")
    r = Reader(bytes(data))
    try:
        tx = Transaction.from_reader(r)
    except Exception:  # noqa: BLE001
        raise BadTx("malformed transaction") from None
    if r.read_bytes(1):
        raise BadTx("trailing bytes after the transaction")
    return tx


def unsigned_digest(tx: Transaction) -> str:
    """sha256 hex of the transaction with all unlocking scripts blanked (see module doc)."""
    blank = bytearray(tx.version.to_bytes(4, "little") + _varint(len(tx.inputs)))
    for i in tx.inputs:
        blank += bytes.fromhex(i.source_txid)[::-1] + i.source_output_index.to_bytes(4, "little") + b"\x00"
        blank += i.sequence.to_bytes(4, "little")
    blank += _varint(len(tx.outputs))
    for o in tx.outputs:
        s = o.locking_script.serialize()
        blank += o.satoshis.to_bytes(8, "little") + _varint(len(s)) + s
    blank += tx.locktime.to_bytes(4, "little")
    return hashlib.sha256(bytes(blank)).hexdigest()


def raw_of(tx: Transaction) -> bytes:
    return tx.serialize()


def input_verifies(tx: Transaction, index: int, satoshis: int, locking_script: bytes) -> bool:
    """True iff input `index`'s unlocking script satisfies `locking_script` for
    `satoshis` in `tx`: the SDK's script interpreter (`Spend`) decides."""
    from bsv.script.spend import Spend

    inp = tx.inputs[index]
    if inp.unlocking_script is None:
        return False
    try:
        return bool(Spend({
            "sourceTXID": inp.source_txid,
            "sourceOutputIndex": inp.source_output_index,
            "sourceSatoshis": satoshis,
            "lockingScript": Script(locking_script),
            "transactionVersion": tx.version,
            "otherInputs": [x for j, x in enumerate(tx.inputs) if j != index],
            "inputIndex": index,
            "unlockingScript": inp.unlocking_script,
            "outputs": tx.outputs,
            "inputSequence": inp.sequence,
            "lockTime": tx.locktime,
        }).validate())
    except Exception:  # noqa: BLE001 - a failing script raises; hostile scripts too
        return False


def sign_inputs(tx: Transaction, key, only_script: bytes | None = None) -> Transaction:
    """Sign (P2PKH, SIGHASH_ALL|FORKID) every input of `tx` locked to `key`'s
    address (or to `only_script`), leaving the others as they are."""
    mine = only_script if only_script is not None else script_of(key.address())
    template = P2PKH().unlock(key)
    for i, inp in enumerate(tx.inputs):
        if inp.locking_script.serialize() == mine:
            inp.unlocking_script = template.sign(tx, i)
    tx._invalidate_hash_cache()
    return tx


def sign_payment(key, built: bytes) -> tuple[bytes, bytes]:
    """What a BSV wallet sends to `*.confirm` for a payment the BSV ledger built:
    (`tx`: the EF transaction with the wallet's inputs signed, `signature`: the
    65 bytes of the Bitcoin Signed Message over the built bytes' hex, the same
    signature the embedded ledger takes)."""
    bsm = base64.b64decode(key.sign_text(bytes(built).hex())[1])
    if not is_ef(built):
        return bytes(built), bsm  # not a BSV-ledger transaction: sign the bytes only
    try:
        tx = parse_ef(built)
    except BadTx:
        return bytes(built), bsm
    return to_ef(sign_inputs(tx, key)), bsm


def estimated_size(n_inputs: int, outputs: list[tuple[bytes, int]]) -> int:
    """The signed size in bytes of a P2PKH transaction with these outputs."""
    size = 4 + len(_varint(n_inputs)) + n_inputs * (32 + 4 + 1 + P2PKH_UNLOCK_MAX + 4)
    size += len(_varint(len(outputs))) + sum(8 + len(_varint(len(s))) + len(s) for s, _ in outputs) + 4
    return size


def fee_for(size: int, sat_per_kb: int) -> int:
    """The miner fee for `size` bytes at `sat_per_kb` (rounded up; at least 1 satoshi
    when the rate is positive)."""
    if sat_per_kb <= 0:
        return 0
    return max(1, math.ceil(size * sat_per_kb / 1000))


def address_of_script(script: bytes, network: str) -> str | None:
    """The P2PKH address a locking script pays, or None if it is not P2PKH."""
    if len(script) == 25 and script[:3] == b"\x76\xa9\x14" and script[23:] == b"\x88\xac":
        return _address(script[3:23], network)
    return None


def _address(pkh: bytes, network: str) -> str:
    from bsv.base58 import base58check_encode

    version = b"\x00" if network == "main" else b"\x6f"
    return base58check_encode(version + pkh)
