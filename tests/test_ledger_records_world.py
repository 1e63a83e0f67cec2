"""The Solana ledger's record store belongs to one world (`SolanaStore.bind`).

Settlement keys are unique within a world only: records of another world
must never be read as this world's (a `done` row of another world's
`refund:<match>` would silently skip this world's refund). These are the
store's rules without a chain; tests/test_ledger_solana.py has the ledger's.
"""

from __future__ import annotations

import pytest

from arena.chain.solana_store import UNBOUND, Payment, RecordsOfAnotherWorld, SolanaStore

W1, W2 = "1111111111111111", "2222222222222222"
MINT, ESCROW = "Mint1111", "Escrow1111"


def _with_entry(store: SolanaStore, match: str = "ro-aa", amount: int = 500) -> None:
    assert store.add_payment(Payment(sig=f"sig-{match}", msg_hash=f"h-{match}", kind="entry", wallet="w",
                                     match=match, to_wallet=None, amount=amount, fee=0, raw=b"x",
                                     blockhash="bh", last_valid=10))
    assert store.resolve_payment(f"sig-{match}", "landed")


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "records.sqlite")


def test_empty_records_are_bound_to_the_first_world_and_kept(path):
    s = SolanaStore(path)
    assert s.bind(W1, MINT, ESCROW) == "bound"
    assert s.binding() == {"world": W1, "mint": MINT, "escrow": ESCROW}
    _with_entry(s)
    assert s.bind(W1, MINT, ESCROW) == "kept"
    s.close()
    assert SolanaStore(path).bind(W1, MINT, ESCROW) == "kept"  # it is kept on disk


def test_records_of_another_world_are_refused_naming_both_and_changed_by_nothing(path):
    s = SolanaStore(path)
    s.bind(W1, MINT, ESCROW)
    _with_entry(s)
    with pytest.raises(RecordsOfAnotherWorld) as exc:
        s.bind(W2, MINT, ESCROW)
    msg = str(exc.value)
    assert W1 in msg and W2 in msg and path in msg and f'adopt_records = "{W1}"' in msg
    assert "500 base units in escrow for 1 matches" in msg
    assert s.binding()["world"] == W1
    # Naming a third world does not adopt W1's records either.
    with pytest.raises(RecordsOfAnotherWorld):
        s.bind(W2, MINT, ESCROW, adopt="3333333333333333")
    assert s.binding()["world"] == W1


def test_adopting_names_the_world_it_takes_over(path):
    s = SolanaStore(path)
    s.bind(W1, MINT, ESCROW)
    _with_entry(s)
    assert s.bind(W2, MINT, ESCROW, adopt=W1) == "adopted"
    assert s.binding() == {"world": W2, "mint": MINT, "escrow": ESCROW, "adopted_from": W1}
    assert s.escrow_balance("ro-aa") == 500
    assert s.bind(W2, MINT, ESCROW, adopt=W1) == "kept"


def test_another_mint_or_escrow_is_always_refused(path):
    s = SolanaStore(path)
    s.bind(W1, MINT, ESCROW)
    with pytest.raises(RecordsOfAnotherWorld, match="mint Mint1111.*mint OtherMint"):
        s.bind(W1, "OtherMint", ESCROW)
    with pytest.raises(RecordsOfAnotherWorld, match="escrow"):
        s.bind(W2, MINT, "OtherEscrow", adopt=W1)
    assert s.binding()["world"] == W1


def test_unbound_records_go_to_a_world_from_before_worlds_only(path):
    s = SolanaStore(path)
    _with_entry(s)  # written by a release without worlds: no meta
    with pytest.raises(RecordsOfAnotherWorld, match="before worlds had ids") as exc:
        s.bind(W1, MINT, ESCROW)  # a new world must not take them
    assert f'adopt_records = "{UNBOUND}"' in str(exc.value)
    assert s.binding() == {}
    assert s.bind(W1, MINT, ESCROW, legacy=True) == "claimed"  # the old store, now named
    assert s.binding()["world"] == W1


def test_unbound_records_can_be_adopted_explicitly(path):
    s = SolanaStore(path)
    _with_entry(s)
    assert s.bind(W2, MINT, ESCROW, adopt=UNBOUND) == "claimed"
    assert s.contents() == {"payments": 1, "settlements": 0, "escrow_matches": 1, "escrow_total": 500}


def test_reconcile_compare_accounts_for_live_and_pending_and_flags_the_rest():
    from types import SimpleNamespace

    from arena.cli_reconcile import compare

    state = SimpleNamespace(matches={"ro-live": object()},
                            unsettled={"payout:ro-wait": "ro-wait", "refund:ro-short": "ro-short"})
    issued = {"payout:ro-wait": [["escrow:ro-wait", "w1", 1900], ["escrow:ro-wait", "fee:creator", 100]],
              "refund:ro-short": [["escrow:ro-short", "w2", 1000]],
              "payout:ro-done": [["escrow:ro-done", "w3", 1900]],
              "refund:ro-zero": [["escrow:ro-zero", "w4", 0]]}
    escrows = {"ro-live": 1000, "ro-wait": 2000, "ro-short": 400, "ro-other": 7}
    done = {"payout:ro-done": [["escrow:ro-done", "w9", 1900]],  # paid to someone else
            "refund:ro-zero": [],                                # zero transfers: nothing to compare
            "payout:ro-old": [["escrow:ro-old", "w5", 10]]}      # not issued since the oldest snapshot
    out = compare(state, issued, escrows, done)
    assert out["unexplained_escrow"] == [{"match": "ro-other", "escrow": 7}]
    assert out["escrow_not_matching_settlements"] == [
        {"match": "ro-short", "escrow": 400, "pending_settlements_take": 1000}]
    assert [c["key"] for c in out["conflicting_done_settlements"]] == ["payout:ro-done"]
    assert out["done_not_issued_since_oldest_snapshot"] == 1
