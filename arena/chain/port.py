"""The ledger port: everything the server asks of the thing that holds money.

Three implementations pass the same contract suite (`tests/ledger_contract.py`):
`arena.chain.embedded.EmbeddedLedger`, an in-process stand-in for the chain
(no real tokens), and for production the Solana ledger
(`arena.chain.solana`, an SPL token) and the BSV ledger (`arena.chain.bsv`,
satoshis).

Accounts
--------
Amounts are integers in base units. Account names are:

- a wallet address (a Solana or a BSV address, see `arena.chain.keys`; each
  chain ledger pays the wallets of its own chain);
- `escrow:<match_id>`: the pot of one match;
- `fee:creator`, `fee:partner`, `fee:protocol`: the platform's accounts.

The adapter maps these names onto whatever real accounts it uses.

Payments signed by players
--------------------------
`build_entry` / `build_tip` return the message bytes `tx` the player signs
with its wallet key; `confirm_entry` / `confirm_tip` take `tx` and the
signature and move the money. (On the BSV ledger `tx` is an unsigned BSV
transaction and the wallet sends it back with its inputs signed, see
`arena.chain.bsv`.) The same signed `tx` confirmed twice raises
`ArenaError("duplicate")`; nothing is ever charged twice.

Errors are `arena.engine.errors.ArenaError` with protocol codes:
`bad_request` (malformed or mismatching request), `insufficient_funds`,
`duplicate`, `payment_failed` (unknown/expired tx, bad signature, a
settlement the ledger could not carry out), `not_allowed` (e.g. faucet off).
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from attrs import frozen

from arena.engine.outputs import Settle

Status = Literal["pending", "confirmed"]


@frozen
class PaymentResult:
    """An entry fee moved (or on its way) from `wallet` into `escrow:<match>`."""

    status: Status
    payment_id: str
    match: str
    wallet: str
    amount: int


@frozen
class TipResult:
    """A tip: the tipper paid `amount`; the performer gets `amount - fee`."""

    status: Status
    payment_id: str
    from_wallet: str
    to_wallet: str
    amount: int
    fee: int


@runtime_checkable
class Ledger(Protocol):
    """What the server needs from a ledger. All amounts are int base units."""

    name: str

    async def balance(self, wallet: str) -> int:
        """The wallet's spendable balance."""
        ...

    async def faucet(self, wallet: str) -> int:
        """Credit test money to `wallet`; returns the new balance.

        Raises `ArenaError("not_allowed")` where no faucet is configured (or
        the wallet has had enough).
        """
        ...

    async def build_entry(self, wallet: str, match: str, amount: int) -> bytes:
        """The message bytes `wallet` signs to pay `amount` into `escrow:<match>`."""
        ...

    async def confirm_entry(
        self, wallet: str, match: str, amount: int, tx: bytes, signature: bytes
    ) -> PaymentResult:
        """Check the signed entry payment `tx` against the arguments and carry it out."""
        ...

    async def build_tip(self, wallet: str, to: str, amount: int, fee: int) -> bytes:
        """The message bytes `wallet` signs to tip `to`: costs `amount`, of which
        `fee` goes to `fee:protocol` and `amount - fee` to `to`."""
        ...

    async def confirm_tip(self, wallet: str, tx: bytes, signature: bytes, *, match: str = "") -> TipResult:
        """Check the signed tip `tx` (it must be `wallet`'s) and carry it out.
        `match`: the battle the tipper was watching, if any (a label for the
        records; the engine ties the tip to it while it is live)."""
        ...

    def pays(self, wallet: str) -> bool:
        """True iff `wallet` is a wallet address this ledger can pay (a
        settlement to anything else is refused): any wallet kind on the
        embedded ledger, the chain's own addresses on a chain ledger."""
        ...

    def payment_ref(self, tx: bytes) -> bytes:
        """What identifies the payment `tx` was built as, the same before and
        after the wallet signs it: the built bytes themselves where the wallet
        sends them back unchanged with a separate signature (embedded,
        Solana); the unsigned transaction's digest on BSV, where the wallet
        sends the transaction back with its inputs signed. Lets the server
        find, at confirm, what it built a payment for."""
        ...

    async def settlement_receipt(self, key: str) -> dict | None:
        """What became of settlement `key`: {"ledger", "status" ("done" once
        carried out), "signature" (the chain transaction's, or None)}, or None
        if this ledger never saw the key (for `history.get`)."""
        ...

    async def settle(self, settle: Settle) -> None:
        """Carry out all of `settle.transfers` atomically, at most once per `settle.key`.

        A repeat of an already applied key is a no-op. If any transfer cannot
        be made, nothing is applied, the key stays unused, and
        `ArenaError("payment_failed")` is raised.
        """
        ...

    async def account_balance(self, account: str) -> int:
        """The balance of any account, incl. `escrow:` and `fee:` (operators, tests)."""
        ...

    def health(self) -> dict:
        """A small plain dict for the operators' health view."""
        ...


def check_tip_args(wallet: str, to: str, amount: int, fee: int) -> None:
    """The checks every ledger makes on `build_tip`'s arguments.

    Raises ArenaError(bad_request) naming the problem; a ledger adds only its
    own rules on top.
    """
    from arena.chain.keys import is_wallet
    from arena.engine.errors import BAD_REQUEST, ArenaError

    def is_int(x: object) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if not is_wallet(wallet) or not is_wallet(to):
        raise ArenaError(BAD_REQUEST, "not a wallet address")
    if wallet == to:
        raise ArenaError(BAD_REQUEST, "cannot tip yourself")
    if not is_int(amount) or amount <= 0:
        raise ArenaError(BAD_REQUEST, "amount must be a positive integer")
    if not is_int(fee) or not 0 <= fee <= amount:
        raise ArenaError(BAD_REQUEST, "fee must be an integer between 0 and amount")
