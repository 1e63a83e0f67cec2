"""What one small loopback TCP send costs the sender on this machine.

Used for bench/RESULTS.md ("Where the time goes on the 2026-12-02 host"):
the server pays this for every frame it writes, and on loopback it includes
the receiving side's TCP processing and the wake-up of the reader.

    python bench/experiments/send_cost.py sleep   # the reader sleeps in epoll between frames
    python bench/experiments/send_cost.py busy    # the reader polls without sleeping

N connections, ROUNDS rounds of one 50-byte WebSocket-sized write per
connection (os.write, as arena/net/ws.py does), the writer pinned to core 0
and the reader to core 1; prints the writer's user and system CPU per send.
Loopback only; bounded (the reader stops after all frames or 30 s).
"""
import os
import resource
import select
import socket
import sys
import time

N = 2000
ROUNDS = 40
FRAME = b"\x82\x30" + b"x" * 48  # a 50-byte binary frame, as a small event batch


def reader(port: int, busy: bool) -> None:
    os.sched_setaffinity(0, {1})
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(N)]
    ep = select.epoll()
    for c in conns:
        c.setblocking(False)
        ep.register(c.fileno(), select.EPOLLIN)
    by_fd = {c.fileno(): c for c in conns}
    got = 0
    end = time.time() + 30
    while got < N * ROUNDS and time.time() < end:
        for fd, _ in ep.poll(0 if busy else 1.0):
            got += by_fd[fd].recv(65536).count(b"\x82")
    os._exit(0)


def main() -> int:
    if len(sys.argv) != 2 or sys.argv[1] not in ("sleep", "busy"):
        print(__doc__, file=sys.stderr)
        return 2
    busy = sys.argv[1] == "busy"
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4096)
    port = ls.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        reader(port, busy)
    os.sched_setaffinity(0, {0})
    conns = []
    for _ in range(N):
        s, _ = ls.accept()
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conns.append(s)
    time.sleep(0.5)
    fds = [s.fileno() for s in conns]
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(ROUNDS):
        for fd in fds:
            os.write(fd, FRAME)
        time.sleep(0.05)  # a tick's gap: the reader catches up and (in "sleep") goes back to sleep
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = N * ROUNDS
    print(f"{sys.argv[1]}: us per send: user {(r1.ru_utime - r0.ru_utime) / n * 1e6:.2f} "
          f"sys {(r1.ru_stime - r0.ru_stime) / n * 1e6:.2f}")
    os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
