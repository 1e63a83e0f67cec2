"""The writer's lease: one world, several nodes, one writer at a time.

A single node holds its PostgreSQL world with a session advisory lock
(`arena.persistence.world`): the database drops it when the process dies.
That is not enough when nodes take over from each other: a node that is
only paused (SIGSTOP, a long GC, a partitioned VM) keeps its connection,
hence its lock, and the world would wait for it forever; and if the lock
were dropped, the paused node would wake up and write on top of its
successor.

So a node named in `[cluster] node` holds the world under a *lease*, one
row of `writer_lease` (schema version 6):

- **claim**: a node takes the lease only when it is absent or expired
  (`expires_at < now()`, by the database's clock, so no two nodes' clocks
  are compared), and every claim increments `epoch`, the fencing token;
- **renew**: the holder moves `expires_at` forward every third of the
  lease's length, only while `epoch` is still its own;
- **fence**: every transaction that writes the world (journal, snapshots,
  outbox, inbox, ledger) first reads the lease row `FOR SHARE` and refuses
  (`FencedOut`) unless the epoch is the writer's. A claim's `UPDATE` waits
  for a write in flight to commit, and every write after the claim sees the
  new epoch: the old holder can write nothing more, however long it slept.

The holder's connections run with `idle_in_transaction_session_timeout`
equal to the lease's length, so a node stopped in the middle of a
transaction cannot keep the row locked (and a successor waiting) for longer
than that.
"""

from __future__ import annotations

from attrs import field, frozen, validators

from .store import StoreError

CLAIM = (
    "INSERT INTO writer_lease (id, owner, epoch, expires_at) VALUES (1, $1, 1, now() + $2 * interval '1 millisecond')"
    " ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, epoch = writer_lease.epoch + 1,"
    " expires_at = excluded.expires_at, claimed_at = now() WHERE writer_lease.expires_at < now()"
    " RETURNING epoch")
RENEW = ("UPDATE writer_lease SET expires_at = now() + $2 * interval '1 millisecond'"
         " WHERE id = 1 AND epoch = $1 RETURNING epoch")
CHECK = "SELECT epoch FROM writer_lease WHERE id = 1 FOR SHARE"
HOLDER = ("SELECT owner, epoch, (extract(epoch FROM expires_at - now()) * 1000)::bigint AS left_ms"
          " FROM writer_lease WHERE id = 1")


class FencedOut(StoreError):
    """Another node took this world's lease over: this one may write nothing more to it."""


@frozen
class LeaseTerms:
    """Who asks for the lease, and for how long each claim or renewal holds."""

    owner: str = field(validator=validators.instance_of(str))  # node name, pid, host: unique per process
    ttl_ms: int = field(validator=[validators.instance_of(int), validators.gt(0)])

    @property
    def renew_every_s(self) -> float:
        return self.ttl_ms / 3000

    @property
    def poll_every_s(self) -> float:
        """How often a standby tries its claim."""
        return max(0.05, self.ttl_ms / 4000)


def describe(row) -> str:
    if row is None:
        return "nobody"
    left = row["left_ms"]
    state = f"expires in {left} ms" if left >= 0 else f"expired {-left} ms ago"
    return f"{row['owner']} (epoch {row['epoch']}, {state})"
