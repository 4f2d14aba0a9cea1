"""Worker processes for visitors' heavy runs, so that a run never holds the server's Python lock.

A bounded pool of processes, each a fresh interpreter (not forked from the threaded server, and not re-running the
server's main module as multiprocessing's spawn would), each capping its own address space
(RLIMIT_AS) and running one job at a time: a top-level function and its arguments, sent and returned by pickle
between our own processes (a visitor's text never is: it was parsed into arrays and specs before). Jobs wait first
come, first served, one per visitor: a visitor's new job cancels the one it had waiting or running. A job past its
time limit, or whose worker dies (out of memory, killed, a crash in NumPy), raises WorkerFailed with words for the
visitor, and its worker is replaced; nothing of another visitor's job is touched.

The caller's `checkpoint` is called while the job waits or runs (raising there cancels it, killing its worker if it
runs), and `waiting(ahead)` each time the number of jobs queued ahead of it changes.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..engine.errors import LimitError, NetbuilderError

ROOT = Path(__file__).resolve().parents[2]  # where the netbuilder package is, for the workers' imports
POLL_SECONDS = 0.05  # how often a waiting or running job checks its checkpoint, its worker and its time
ENVIRONMENT = {  # variable → (PoolConfig's field, what it is)
    "NETBUILDER_WORKERS": ("workers", "worker processes for heavy runs"),
    "NETBUILDER_WORKER_MEMORY": ("memory_bytes", "address space of each worker (RLIMIT_AS), bytes"),
    "NETBUILDER_WORKER_SECONDS": ("seconds", "time limit of one run in a worker, seconds"),
}


@dataclass(frozen=True)
class PoolConfig:
    """The pool a deployment sets (ENVIRONMENT); the defaults fit a 2.5 GB box of 2 cores."""

    workers: int = 2
    memory_bytes: int = 1_500_000_000
    seconds: int = 60


def config_from_environment(environ: Mapping[str, str]) -> PoolConfig:
    """The defaults, with each value a deployment sets in `environ` (a positive whole number); a malformed one
    raises LimitError naming its variable (the server stops at start, as for the budgets)."""
    values = {}
    for variable, (name, what) in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None:
            continue
        if not raw.strip().isdigit() or int(raw) < 1:
            raise LimitError(f"{variable} ({what}) must be a positive whole number; it is {raw[:40]!r}")
        values[name] = int(raw)
    return PoolConfig(**values)


class WorkerFailed(NetbuilderError):
    """A run that its worker could not finish: out of memory, past its time, killed or crashed."""


class Cancelled(NetbuilderError):
    """The visitor's job was replaced by a newer job of the same visitor (whose page shows that one)."""


def send(sock: socket.socket, value) -> None:
    """`value` pickled with its large buffers (arrays) written apart from the rest, straight from their memory."""
    buffers: list = []
    head = pickle.dumps(value, protocol=5, buffer_callback=buffers.append)
    meta = pickle.dumps((head, [b.raw().nbytes for b in buffers]))
    sock.sendall(len(meta).to_bytes(8, "big") + meta)
    for buffer in buffers:
        sock.sendall(buffer.raw())


def receive(sock: socket.socket):
    """What `send` sent: each buffer read straight into memory of its own, which the arrays then use (no second
    copy on either side: a run's tensors may be as large as its budget)."""
    meta = _read(sock, bytearray(int.from_bytes(_read(sock, bytearray(8)), "big")))
    head, sizes = pickle.loads(meta)
    return pickle.loads(head, buffers=[_read(sock, bytearray(size)) for size in sizes])


def _read(sock: socket.socket, buffer: bytearray) -> bytearray:
    view, at = memoryview(buffer), 0
    while at < len(buffer):
        got = sock.recv_into(view[at:])
        if not got:
            raise EOFError("the other side closed")
        at += got
    return buffer


def ready(sock: socket.socket, seconds: float) -> bool:
    """Whether the socket has something to read (a result, or the end of a dead worker) within `seconds`."""
    return bool(select.select([sock], [], [], seconds)[0])


def serve(fd: int, memory_bytes: int, warm: tuple[str, ...]) -> None:
    """A worker's life: cap its memory, import what jobs need, then run each job sent on the socket `fd` until the
    server closes it."""
    conn = socket.socket(fileno=fd)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    for module in warm:
        __import__(module)
    while True:
        try:
            fn, args = receive(conn)
        except (EOFError, OSError):  # the server is gone: so is its worker
            return
        try:
            send(conn, ("ok", fn(*args)))
        except MemoryError:
            send(conn, ("memory", None))
        except Exception as e:  # noqa: BLE001 — said to the visitor by the server, the worker stays
            send(conn, ("crash", f"{type(e).__name__}: {e}"[:300]))


class _Worker:
    def __init__(self, config: PoolConfig, warm: tuple[str, ...]):
        ours, theirs = socket.socketpair()
        code = f"from netbuilder.studio.workers import serve; serve({theirs.fileno()}, {config.memory_bytes}, {warm!r})"
        path = os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(theirs.fileno(),), env={**os.environ, "PYTHONPATH": path}
        )
        theirs.close()
        self.conn = ours

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        self.conn.close()


@dataclass(eq=False)
class _Ticket:
    visitor: object
    cancelled: bool = False


class Pool:
    """`config.workers` worker processes, started on the first job (and a dead one's replacement at once)."""

    def __init__(self, config: PoolConfig, warm: tuple[str, ...] = ()):
        self.config = config
        self._warm = warm
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._queue: deque[_Ticket] = deque()
        self._latest: dict[object, _Ticket] = {}
        self._started = False

    def start(self) -> None:
        with self._cond:
            if not self._started:
                self._started = True
                self._idle = [self._new_worker() for _ in range(self.config.workers)]

    def _new_worker(self) -> _Worker:
        return _Worker(self.config, self._warm)

    def pids(self) -> list[int]:
        """The workers' process ids (for tests and the load benchmark's memory count)."""
        with self._cond:
            return [w.process.pid for w in (*self._idle, *self._busy)]

    def run(
        self,
        fn: Callable,
        args: tuple,
        visitor: object,
        checkpoint: Callable[[], None] | None = None,
        waiting: Callable[[int], None] | None = None,
    ):
        """`fn(*args)` in a worker, after the jobs queued before it; its result, or WorkerFailed."""
        self.start()
        ticket = _Ticket(visitor)
        with self._cond:
            if (old := self._latest.get(visitor)) is not None:
                old.cancelled = True  # one job per visitor: the newer one is what the visitor asked for
            self._latest[visitor] = ticket
            self._queue.append(ticket)
            self._cond.notify_all()
        try:
            worker = self._turn(ticket, checkpoint, waiting)
            return self._run_on(worker, ticket, fn, args, checkpoint)
        finally:
            with self._cond:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                if self._latest.get(visitor) is ticket:
                    del self._latest[visitor]
                self._cond.notify_all()

    def _turn(self, ticket: _Ticket, checkpoint, waiting) -> _Worker:
        """Wait until `ticket` is first in the queue and a worker is idle; that worker, now busy."""
        said = None
        while True:
            with self._cond:
                if ticket.cancelled:
                    raise Cancelled("a newer run of yours replaced this one")
                ahead = self._queue.index(ticket)
                if ahead == 0 and self._idle:
                    self._queue.popleft()
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                self._cond.wait(timeout=POLL_SECONDS)
            if waiting is not None and ahead != said:
                said = ahead
                waiting(ahead)
            if checkpoint is not None:
                checkpoint()

    def _run_on(self, worker: _Worker, ticket: _Ticket, fn, args, checkpoint):
        deadline = time.monotonic() + self.config.seconds
        healthy = False
        try:
            self._talk(worker, send, (fn, args))
            while not ready(worker.conn, POLL_SECONDS):
                if time.monotonic() > deadline:
                    raise WorkerFailed(
                        f"the run took longer than {self.config.seconds:,} s, this server's limit for one run, "
                        "and was stopped"
                    )
                if ticket.cancelled:
                    raise Cancelled("a newer run of yours replaced this one")
                if checkpoint is not None:
                    checkpoint()
            kind, value = self._talk(worker, receive)
            healthy = True
        finally:
            self._release(worker, healthy)
        if kind == "memory":
            cap = self.config.memory_bytes / 2**20
            raise WorkerFailed(f"the run needed more memory than a worker's {cap:,.0f} MiB and was stopped")
        if kind == "crash":
            raise WorkerFailed(f"the run failed in its worker: {value}")
        return value

    @staticmethod
    def _talk(worker: _Worker, how, *value):
        """`send` or `receive` on a worker's socket; a worker that died on the way (or sent half a message, out of
        memory while sending) is a WorkerFailed."""
        try:
            return how(worker.conn, *value)
        except Exception:  # noqa: BLE001 — EOF, a broken pipe, a torn message: the worker is gone either way
            raise WorkerFailed(
                "the worker process running it stopped (out of memory, killed, or a crash) before it finished"
            ) from None

    def _release(self, worker: _Worker, healthy: bool) -> None:
        """Back to idle, or (cancelled, past its time, dead) killed and replaced by a fresh worker."""
        replacement = None if healthy else self._new_worker()
        if not healthy:
            worker.kill()
        with self._cond:
            self._busy.discard(worker)
            self._idle.append(worker if healthy else replacement)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            for worker in (*self._idle, *self._busy):
                worker.kill()
            self._idle, self._busy = [], set()


_pool: Pool | None = None
_pool_lock = threading.Lock()


def pool() -> Pool:
    """The server's one pool, configured from the environment when first asked for."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Pool(config_from_environment(os.environ), warm=("netbuilder.studio.run",))
        return _pool
