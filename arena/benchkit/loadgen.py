"""One load-generator process: many lean clients on one asyncio loop.

The orchestrator (`arena.benchkit.cli`) starts K of these with
multiprocessing and drives each over a pipe:

    ("grow", n_clients)       connect and set up clients until it has n (not timed)
    ("run", t0, t1, rate)     the measured window: load from t0 to t1 (monotonic
                              clock, shared by processes on one machine), then
                              drain and answer ("result", {...})
    ("stop",)                 close every connection and exit

The "reads" scenario is a reader next to another scenario's generators:
its clients only log in, and in the window send `leaderboard.get` at `rate`
per second in total (spread over its clients, on a fixed schedule);
latency = request -> reply.

Setup (duel, idle) is the real protocol: hello, login (ed25519), faucet,
queue.join, match.found, entry payment (build, sign, confirm), and the first
`battle:round_start`; it is part of the preparation, never of the window.
Every wait is bounded; every loop ends by itself at t1 (plus a bounded
finish for `battles`).
"""

from __future__ import annotations

import asyncio
import gc
import mmap
import os
import random
import select
import socket
import struct
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit

from .wsclient import RING, REACT_RID, Client, Stats, encode_request, mask_frame

SETUP_CONCURRENCY = 48
SLOT_S = 0.005
DRAIN_S = 0.3  # after the last expected message: anything unexpected still in flight
DRAIN_MAX_S = 10.0
FINISH_S = 30.0  # battles: how long a battle in flight at t1 may take to end


class Generator:
    def __init__(self, pipe, gen_id: int, opts: dict):
        self.pipe = pipe
        self.gen_id = gen_id
        self.opts = opts
        u = urlsplit(opts["url"])
        self.host = u.hostname or "127.0.0.1"
        self.port = u.port or 80
        self.path = u.path or "/v1"
        # Shard workers: each pair of clients goes to one shard's own port
        # (players are paired within a shard), the pairs spread round the shards.
        self.targets = [(v.hostname or "127.0.0.1", v.port or 80, v.path or "/v1")
                        for v in map(urlsplit, opts.get("urls") or [])]
        self.started_clients = 0
        self.scenario = opts["scenario"]
        self.tier = opts.get("tier", "bronze")
        self.clients: list[Client] = []
        self.stats = Stats()
        self.setup_failures = 0
        self.setup_errors: dict[str, int] = defaultdict(int)
        self.rng = random.Random(gen_id * 7919 + os.getpid())

    # --- pipe ------------------------------------------------------------------------
    async def recv(self):
        loop = asyncio.get_running_loop()
        while not self.pipe.poll():
            fut = loop.create_future()
            loop.add_reader(self.pipe.fileno(), lambda: fut.done() or fut.set_result(None))
            try:
                await asyncio.wait_for(fut, 1.0)
            except asyncio.TimeoutError:
                pass
            finally:
                loop.remove_reader(self.pipe.fileno())
                os.set_blocking(self.pipe.fileno(), True)  # uvloop leaves watched fds non-blocking
        return self.pipe.recv()

    def send(self, msg) -> None:
        os.set_blocking(self.pipe.fileno(), True)
        self.pipe.send(msg)

    async def main(self) -> None:
        try:
            while True:
                cmd = await self.recv()
                if cmd[0] == "grow":
                    await self.grow(cmd[1])
                elif cmd[0] == "run":
                    await self.run_window(*cmd[1:])
                elif cmd[0] == "stop":
                    break
        finally:
            for c in self.clients:
                c.close()
            await asyncio.sleep(0.1)

    # --- setup -------------------------------------------------------------------------
    async def grow(self, n: int) -> None:
        t_start = time.monotonic()
        want = n - len(self.clients)
        sem = asyncio.Semaphore(SETUP_CONCURRENCY)
        done = 0
        last_report = 0.0

        async def one():
            nonlocal done, last_report
            async with sem:
                try:
                    c = await self.setup_client()
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    self.setup_failures += 1
                    self.setup_errors[str(exc)[:80]] += 1
                    return
            self.clients.append(c)
            done += 1
            now = time.monotonic()
            if now - last_report > 0.5:
                last_report = now
                self.send(("progress", len(self.clients)))

        await asyncio.gather(*(one() for _ in range(max(0, want))))
        if self.scenario in ("duel", "idle"):
            # Wait for every battle to reach its recording window.
            deadline = time.monotonic() + 60
            for c in self.clients:
                left = deadline - time.monotonic()
                if c.ready_at > time.monotonic() and left > 0:
                    await asyncio.sleep(min(left, c.ready_at - time.monotonic()))
        # Thousands of long-lived clients: keep them out of every collection,
        # so a full GC pass never stalls the measured window.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        self.send(("ready", {
            "clients": len(self.clients),
            "setup_s": round(time.monotonic() - t_start, 2),
            "setup_failures": self.setup_failures,
            "setup_errors": dict(self.setup_errors),
        }))

    async def setup_client(self) -> Client:
        from solders.keypair import Keypair

        host, port, path = self.host, self.port, self.path
        if self.targets:
            host, port, path = self.targets[(self.started_clients // 2) % len(self.targets)]
            self.started_clients += 1
        if self.opts.get("against") == "colyseus":
            return await self.setup_colyseus_client(host, port)
        c = await Client.connect(host, port, path, self.stats)
        kp = Keypair()
        c.keypair = kp
        c.wallet = str(kp.pubkey())
        hello = await c.call("hello", {"protocol": 1, "client": "arena-bench"})
        sig = bytes(kp.sign_message(("arena:login:" + hello["nonce"]).encode()))
        await c.call("auth.login", {"wallet": c.wallet, "signature": sig})
        await c.call("wallet.faucet", {})
        c.ready_at = 0.0
        c.match = None
        if self.scenario in ("battles", "reads"):
            return c
        await c.call("queue.join", {"mode": "roast", "tier": self.tier})
        _, found = await c.next_event(("match.found",), timeout=60)
        c.match = found["match"]
        await self.pay(c, c.match)
        _, start = await c.next_event(("battle:round_start",), timeout=60)
        c.ready_at = time.monotonic() + start.get("countdown", 0) / 1000 + 0.1
        c.react_frame = mask_frame(
            encode_request(REACT_RID, "reaction.send", {"match": c.match, "emoji": "\U0001f525"}), c.mask)
        return c

    async def setup_colyseus_client(self, host: str, port: int) -> Client:
        """A member of a Colyseus duel room, ready once the room is full."""
        from .colyseus_client import ColyseusClient, room_message

        c = await ColyseusClient.join(host, port, self.stats)
        await asyncio.wait_for(c.started, 60)
        c.ready_at = 0.0
        c.react_frame = mask_frame(room_message("reaction", {"emoji": "\U0001f525"}), c.mask)
        return c

    @staticmethod
    async def pay(c: Client, match: str) -> None:
        built = await c.call("entry.build", {"match": match})
        tx = built["tx"]
        sig = bytes(c.keypair.sign_message(bytes(tx)))
        await c.call("entry.confirm", {"match": match, "tx": tx, "signature": sig})

    # --- the measured window ---------------------------------------------------------------
    async def run_window(self, t0: float, t1: float, rate: float) -> None:
        self.stats = st = Stats()
        for c in self.clients:
            c.stats = st
            c.counting = True
            c.sent_at.clear()
            c.ring = None
            c.clock = time.monotonic
            c.own_seen = c.own_sent = 0
        cpu0 = _cpu()
        lag = {"max": 0.0}
        steps: dict[str, list[float]] = defaultdict(list)
        extra: dict = {}
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        w0 = time.monotonic()
        child_cpu = 0.0
        if self.scenario == "duel" and self.opts.get("split_sender") and hasattr(os, "fork"):
            child_cpu = await self.duel_forked(t0, t1, rate, lag)
        elif self.scenario == "duel":
            await self.duel(t0, t1, rate, lag)
        elif self.scenario == "battles":
            extra = await self.battles(t0, t1, steps)
        elif self.scenario == "reads":
            await self.reads(t0, t1, rate, lag)
        else:
            await asyncio.sleep(max(0.0, t1 - time.monotonic()))
        w1 = time.monotonic()
        cpu1 = _cpu()
        # Drain: until every reaction sent has come back (or DRAIN_MAX_S), so
        # both ends' counters cover the same messages.
        drain_end = time.monotonic() + DRAIN_MAX_S
        while time.monotonic() < drain_end and any(
                c.sent_at or c.pending or c.own_seen < c.own_sent for c in self.clients if not c.closed):
            await asyncio.sleep(0.02)
        await asyncio.sleep(DRAIN_S)
        for c in self.clients:
            c.counting = False
        result = st.as_dict()
        result.update({
            "gen_id": self.gen_id,
            "clients": len(self.clients),
            "cpu_s": cpu1 - cpu0 + child_cpu,
            "wall_s": w1 - w0,
            "lag_max_s": lag["max"],
            "steps": {k: v for k, v in steps.items()},
            **extra,
        })
        self.send(("result", result))

    async def reads(self, t0: float, t1: float, rate: float, lag: dict) -> None:
        """`rate` leaderboard.get per second in total, round-robin over the
        clients; every request due is sent at each wake-up, so a late loop
        catches up instead of lowering the rate (its lateness is `lag`)."""
        live = [c for c in self.clients if not c.closed]
        if not live or rate <= 0:
            await asyncio.sleep(max(0.0, t1 - time.monotonic()))
            return
        body = {"board": self.opts.get("board", "roast.wins"), "limit": 10}
        interval = 1.0 / rate
        latencies = self.stats.latencies
        n = 0
        while True:
            due = t0 + n * interval
            if due >= t1:
                break
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
                now = time.monotonic()
            lag["max"] = max(lag["max"], now - due)
            while t0 + n * interval <= min(now, t1 - 1e-9):
                sent = time.monotonic()
                fut = live[n % len(live)].request("leaderboard.get", body)
                fut.add_done_callback(lambda f, sent=sent: latencies.append(time.monotonic() - sent))
                n += 1

    async def duel(self, t0: float, t1: float, rate: float, lag: dict) -> None:
        st = self.stats
        live = [c for c in self.clients if c.match is not None]
        nslots = max(1, round(1.0 / rate / SLOT_S))
        slot_len = 1.0 / rate / nslots
        slots: list[list[Client]] = [[] for _ in range(nslots)]
        for c in live:
            slots[self.rng.randrange(nslots)].append(c)
        k = 0
        mono = time.monotonic
        while True:
            now = mono()
            due = t0 + k * slot_len
            while due <= now and due < t1:
                late = now - due
                if late > lag["max"]:
                    lag["max"] = late
                for c in slots[k % nslots]:
                    if c.closed:
                        st.sends_skipped += 1
                        continue
                    c.sent_at.append(now)
                    c.transport.write(c.react_frame)
                    st.frames_out += 1
                    st.bytes_out += len(c.react_frame)
                k += 1
                due = t0 + k * slot_len
            if due >= t1:
                break
            await asyncio.sleep(max(0.0, due - mono()))
        await asyncio.sleep(max(0.0, t1 - mono()))

    async def duel_forked(self, t0: float, t1: float, rate: float, lag: dict) -> float:
        """The duel's sends from a forked child process; this loop only reads.

        Real clients send on time however busy other clients are; one event
        loop that both sends and reads delays its sends while it reads a
        burst of frames (one per client at every server tick), which bunches
        the load into some ticks. So a child process, sharing the sockets,
        writes the pre-encoded frames on schedule and stamps each send in
        shared memory (a ring per client) just before writing; this loop
        matches the k-th own `reaction:sent` of a client to its k-th stamp.
        Returns the child's CPU seconds.
        """
        st = self.stats
        live = [c for c in self.clients if c.match is not None and not c.closed]
        n = len(live)
        nslots = max(1, round(1.0 / rate / SLOT_S))
        slot_len = 1.0 / rate / nslots
        slots: list[list[int]] = [[] for _ in range(nslots)]
        for i in range(n):
            slots[self.rng.randrange(nslots)].append(i)
        # Shared memory: n rings of send stamps, n send counts, 8 result slots.
        mm = mmap.mmap(-1, (n * RING + n + 8) * 8)
        view = memoryview(mm).cast("d")
        for i, c in enumerate(live):
            c.ring = view
            c.ring_base = i * RING
        fds = [c.transport.get_extra_info("socket").fileno() for c in live]
        frames = [c.react_frame for c in live]
        stamps = _kernel_stamps_supported()
        # With kernel receive stamps, arrival is when the client's kernel got
        # the frame (SO_TIMESTAMPNS, wall clock), not when this one busy loop
        # got round to it; sends are then stamped with the wall clock too.
        clock = time.time if stamps else time.monotonic
        # The schedule is in monotonic time; the child converts it.
        pid = os.fork()
        if pid == 0:  # the child: plain system calls only, never the event loop
            code = 0
            try:
                _send_on_schedule(fds, frames, slots, t0, t1, slot_len, view, n, clock)
            except BaseException:  # noqa: BLE001
                code = 1
            os._exit(code)
        for c in live:
            c.clock = clock  # stamps and arrivals on the same clock
        reaped = self._read_with_kernel_stamps(live, pid, t1, view, n) if stamps else False
        deadline = t1 + 30
        while not reaped:
            wpid, _status = os.waitpid(pid, os.WNOHANG)
            if wpid:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                break
            await asyncio.sleep(0.01)
        for i, c in enumerate(live):
            c.own_sent = int(view[n * RING + i])
        res = n * RING + n
        st.frames_out += int(view[res])
        st.bytes_out += int(view[res + 1])
        st.sends_skipped += int(view[res + 3])
        lag["max"] = max(lag["max"], view[res + 2])
        return view[res + 4]

    def _read_with_kernel_stamps(self, live: list, pid: int, t1: float, view, n: int) -> bool:
        """Read the clients' sockets directly (blocking the event loop, which
        has nothing else to do meanwhile: the child sends), handing each read
        to its client with the kernel's receive time, until the child has
        finished and every reaction it sent has come back (or DRAIN_MAX_S).
        Returns True if it reaped the child."""
        ep = select.epoll()
        socks = {}
        for c in live:
            c.transport.pause_reading()
            s = socket.socket(fileno=os.dup(c.transport.get_extra_info("socket").fileno()))
            s.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            ep.register(s.fileno(), select.EPOLLIN)
            socks[s.fileno()] = (s, c)
        reaped = False
        deadline = t1 + DRAIN_MAX_S
        try:
            while True:
                now = time.monotonic()
                if now >= t1 and not reaped:
                    wpid, _status = os.waitpid(pid, os.WNOHANG)
                    if wpid:
                        reaped = True
                        for i, c in enumerate(live):
                            c.own_sent = int(view[n * RING + i])
                if reaped and all(c.closed or c.own_seen >= c.own_sent for c in live):
                    break
                if now > deadline:
                    break
                for fd, _ev in ep.poll(0.05):
                    s, c = socks[fd]
                    try:
                        data, anc, _flags, _addr = s.recvmsg(65536, 256)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        data, anc = b"", []
                    if not data:
                        ep.unregister(fd)
                        continue
                    c.rx_time = None
                    for level, kind, raw in anc:
                        if level == socket.SOL_SOCKET and kind == _SCM_TIMESTAMPNS and len(raw) >= 16:
                            sec, nsec = struct.unpack("qq", raw[:16])
                            c.rx_time = sec + nsec * 1e-9
                    c.data_received(data)
                    c.rx_time = None
        finally:
            for s, c in socks.values():
                try:
                    s.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 0)
                except OSError:
                    pass
                s.close()
                if not c.closed:
                    c.transport.resume_reading()
            ep.close()
        return reaped

    async def battles(self, t0: float, t1: float, steps: dict) -> dict:
        st = self.stats
        counters = {"battles_completed": 0, "battles_other": 0, "battle_failures": 0}
        failures: dict[str, int] = defaultdict(int)
        mono = time.monotonic

        async def timed(name, aw):
            t = mono()
            r = await aw
            steps[name].append(mono() - t)
            return r

        async def play(c: Client) -> None:
            while mono() < t1 and not c.closed:
                try:
                    if c.played >= 40:
                        await timed("faucet", c.call("wallet.faucet", {}))
                        c.played = 0
                    tq = mono()
                    await timed("queue_join", c.call("queue.join", {"mode": "roast", "tier": self.tier}))
                    try:
                        _, found = await c.next_event(("match.found",), timeout=max(1.0, t1 - mono() + 3))
                    except TimeoutError:
                        await c.call("queue.leave", {})
                        # A pairing may have raced the leave.
                        try:
                            _, found = await c.next_event(("match.found",), timeout=0.5)
                        except TimeoutError:
                            return
                    steps["queue_to_match"].append(mono() - tq)
                    match = found["match"]
                    c.played += 1
                    await timed("pay_entry", self.pay(c, match))
                    tp = mono()
                    ended = None
                    rounds_done = 0
                    t_wait = mono()
                    while True:
                        t, body = await c.next_event(
                            ("battle:round_start", "battle:ended"), timeout=60)
                        if body.get("match") != match:
                            continue
                        if t == "battle:ended":
                            ended = body
                            break
                        steps["paid_to_round" if rounds_done == 0 else "reveal_to_next_round"].append(
                            mono() - (tp if rounds_done == 0 else t_wait))
                        rnd = body["roundNumber"]
                        await asyncio.sleep(body.get("countdown", 0) / 1000 + 0.06)
                        ts = mono()
                        await timed("submit", c.call("roast.submit", {
                            "match": match, "round": rnd,
                            "text": f"Your {body.get('prompt', 'act')} is so stale even the bench yawns."}))
                        reveals = 0
                        while reveals < 2:
                            t2, b2 = await c.next_event(("battle:score_revealed", "battle:ended"), timeout=60)
                            if b2.get("match") != match:
                                continue
                            if t2 == "battle:ended":
                                ended = b2
                                break
                            if b2.get("roundNumber") == rnd:
                                reveals += 1
                        steps["submit_to_reveal"].append(mono() - ts)
                        t_wait = mono()
                        rounds_done += 1
                        if ended is not None:
                            break
                    if ended is None:
                        _, ended = await c.next_event(("battle:ended",), timeout=60)
                    steps["reveal_to_end"].append(mono() - t_wait)
                    steps["battle_total"].append(mono() - tq)
                    if found["players"][0] == c.wallet:
                        if ended.get("reason") == "completed" and mono() <= t1:
                            counters["battles_completed"] += 1
                        elif mono() <= t1:
                            counters["battles_other"] += 1
                except Exception as exc:  # noqa: BLE001 - counted; this client stops
                    counters["battle_failures"] += 1
                    failures[f"{type(exc).__name__}: {str(exc)[:60]}"] += 1
                    return

        for c in self.clients:
            if not hasattr(c, "played"):
                c.played = 0
        tasks = [asyncio.ensure_future(play(c)) for c in self.clients]
        await asyncio.wait(tasks, timeout=max(0.0, t1 - mono()) + FINISH_S)
        for t in tasks:
            if not t.done():
                t.cancel()
                counters["battle_failures"] += 1
                failures["unfinished at the finish timeout"] += 1
        await asyncio.gather(*tasks, return_exceptions=True)
        st.protocol_errors += 0
        return {**counters, "battle_failure_reasons": dict(failures)}


# Linux's SO_TIMESTAMPNS (= SCM_TIMESTAMPNS; 35 on x86-64 and arm64, struct
# timespec of two 64-bit longs); Python does not export the constant.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform.startswith("linux") else None)
_SCM_TIMESTAMPNS = _SO_TIMESTAMPNS


def _kernel_stamps_supported() -> bool:
    return (_SO_TIMESTAMPNS is not None and hasattr(socket.socket, "recvmsg")
            and struct.calcsize("l") == 8)


def _send_on_schedule(fds, frames, slots, t0, t1, slot_len, view, n, clock=time.monotonic) -> None:
    """The forked sender (see Generator.duel_forked). Bounded by t1."""
    nslots = len(slots)
    sent = [0] * n
    k = frames_out = bytes_out = skipped = 0
    lag = 0.0
    dead = set()
    mono = time.monotonic
    write = os.write
    while True:
        now = mono()
        due = t0 + k * slot_len
        while due <= now and due < t1:
            if now - due > lag:
                lag = now - due
            for i in slots[k % nslots]:
                if i in dead:
                    skipped += 1
                    continue
                frame = frames[i]
                view[i * RING + sent[i] % RING] = clock()  # stamped before it can arrive
                try:
                    w = write(fds[i], frame)
                except OSError:
                    skipped += 1
                    dead.add(i)
                    continue
                if w != len(frame):  # a torn frame: this connection's stream is unusable now
                    skipped += 1
                    dead.add(i)
                    continue
                sent[i] += 1
                frames_out += 1
                bytes_out += w
            k += 1
            due = t0 + k * slot_len
        if due >= t1:
            break
        time.sleep(max(0.0, due - mono()))
    for i in range(n):
        view[n * RING + i] = sent[i]
    res = n * RING + n
    view[res] = frames_out
    view[res + 1] = bytes_out
    view[res + 2] = lag
    view[res + 3] = skipped
    view[res + 4] = _cpu()


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def run_generator_process(cpus, main, no_uvloop: bool = False) -> None:
    """A load generator's process: pinned to `cpus`, its descriptor limit
    raised to the hard one (thousands of sockets), `main()` run on uvloop
    when installed (else asyncio)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, cpus)
        except OSError:
            pass
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    try:
        import uvloop  # a faster event loop for the load generator, when installed
    except ImportError:
        uvloop = None
    if uvloop is not None and not no_uvloop:
        uvloop.run(main())
    else:
        asyncio.run(main())


def generator_main(pipe, gen_id: int, opts: dict) -> None:
    run_generator_process(opts.get("cpus"), Generator(pipe, gen_id, opts).main, bool(opts.get("no_uvloop")))
