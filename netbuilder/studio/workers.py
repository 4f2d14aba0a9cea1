"""Worker processes for visitors' heavy runs, so that a run never holds the server's Python lock.

A bounded pool of processes, each a fresh interpreter (not forked from the threaded server, and not re-running the
server's main module as multiprocessing's spawn would), each capping its own address space
(RLIMIT_AS) and running one job at a time: a top-level function and its arguments, sent and returned by pickle
between our own processes (a visitor's text never is: it was parsed into arrays and specs before). Jobs wait first
come, first served, one per visitor: a visitor's new job stops the one it had waiting or running. A job past its
time limit, or whose worker dies (out of memory, killed, a crash in NumPy), fails with words for the visitor, and its
worker is replaced; nothing of another visitor's job is touched.

A job is followed by a thread of the server's (Job): `Pool.run` waits for one, calling the caller's `checkpoint`
(raising there cancels the job, killing its worker if it runs) and `waiting(ahead)` as the jobs queued before it
go. A streaming job, such as a training run, is not waited for: the page reads its progress while it runs, and a
stop (Stop, a newer job of the visitor's, the time limit) lets it end as at its end, so what it did comes back;
a visitor who leaves cancels it.
"""

from __future__ import annotations

import logging
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
from dataclasses import dataclass, field
from pathlib import Path

from ..engine.errors import LimitError, NetbuilderError

ROOT = Path(__file__).resolve().parents[2]  # where the netbuilder package is, for the workers' imports
POLL_SECONDS = 0.05  # how often a waiting or running job checks its checkpoint, its worker and its time
STOP_GRACE_SECONDS = 10  # how long a streaming job asked to stop may take to end before its worker is killed
STOP = None  # what the server sends a streaming job to ask it to stop
REPLACED = "a newer run of yours replaced this one"
# workers run at a lower priority than the server: a page's light work, and the health check a host restarts the app
# by, are served first when heavy runs take every core
WORKER_NICENESS = 10
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
    server closes it. A streaming job is given a Channel first, to report progress and hear a request to stop."""
    conn = socket.socket(fileno=fd)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.nice(WORKER_NICENESS)
    for module in warm:
        __import__(module)
    while True:
        try:
            message = receive(conn)
        except (EOFError, OSError):  # the server is gone: so is its worker
            return
        if message is STOP:  # a stop that crossed its job's end on the way: nothing left to stop
            continue
        fn, args, streaming = message
        try:
            send(conn, ("ok", fn(Channel(conn), *args) if streaming else fn(*args)))
        except MemoryError:
            send(conn, ("memory", None))
        except Exception as e:  # noqa: BLE001 — said to the visitor by the server, the worker stays
            send(conn, ("crash", f"{type(e).__name__}: {e}"[:300]))


class Channel:
    """A streaming job's end of its worker's socket: it reports progress, and hears when the server asks it to stop
    (it then ends as it would at its end, so what it did so far comes back)."""

    def __init__(self, conn: socket.socket):
        self._conn = conn
        self._stop = False

    def report(self, value) -> None:
        send(self._conn, ("progress", value))

    def stop_asked(self) -> bool:
        if not self._stop and ready(self._conn, 0):
            try:
                receive(self._conn)  # the one thing the server sends during a job
            except (EOFError, OSError):  # the server is gone: nobody waits for the rest
                pass
            self._stop = True
        return self._stop


class Recorder:
    """A streaming job's channel in this process (benchmarks, tests): it keeps the count of reports and the last
    one, and asks the job to stop once it has made `stop_after` reports."""

    def __init__(self, stop_after: int | None = None):
        self.reports, self.last, self.stop_after = 0, None, stop_after

    def report(self, value) -> None:
        self.reports, self.last = self.reports + 1, value

    def stop_asked(self) -> bool:
        return self.stop_after is not None and self.reports >= self.stop_after


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
class Job:
    """A job of the pool, followed from any thread: while it waits, how many jobs are queued before it; while it
    runs, the last progress it reported (a streaming job); at its end, its result or why there is none."""

    visitor: object
    streaming: bool = False
    alive: Callable[[], bool] | None = None  # False once nobody waits for the job (its visitor left): it is cancelled
    ahead: int | None = None  # jobs queued before it, while it waits
    progress: object = None  # what a streaming job reported last
    stop_reason: str = ""  # why it was asked to end early ("" when it was not)
    cancelled: str = ""  # why it was cancelled: it ends at once, with nothing back
    _outcome: tuple = ()
    _ended: threading.Event = field(default_factory=threading.Event)

    @property
    def done(self) -> bool:
        return self._ended.is_set()

    def wait(self, seconds: float) -> bool:
        """Whether it has ended, waiting up to `seconds` for it."""
        return self._ended.wait(seconds)

    def result(self):
        """What its function returned; raises why there is nothing (WorkerFailed, Cancelled)."""
        kind, value = self._outcome
        if kind == "error":
            raise value
        return value

    def stop(self, reason: str) -> None:
        """End it early: a streaming job that runs is asked to stop, and ends as at its end (what it did comes back);
        any other job is cancelled."""
        self.stop_reason = self.stop_reason or reason

    def cancel(self, reason: str) -> None:
        """End it now, with nothing back (a running job's worker is killed and replaced)."""
        self.cancelled = self.cancelled or reason

    def why_end_now(self) -> str:
        """Why it must end at once with nothing back ("" while it may go on): it was cancelled, its visitor left, or it
        was asked to stop and cannot end early of itself (it does not stream)."""
        if self.alive is not None and not self.cancelled and not self.alive():
            self.cancel("its visitor left")
        return self.cancelled or ("" if self.streaming else self.stop_reason)

    def _end(self, kind: str, value) -> None:
        self._outcome = (kind, value)
        self._ended.set()


class Pool:
    """`config.workers` worker processes, started with the server (and a dead one's replacement at once)."""

    def __init__(self, config: PoolConfig, warm: tuple[str, ...] = ()):
        self.config = config
        self._warm = warm
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._queue: deque[Job] = deque()
        self._latest: dict[object, Job] = {}
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

    def submit(
        self,
        fn: Callable,
        args: tuple,
        visitor: object,
        streaming: bool = False,
        alive: Callable[[], bool] | None = None,
    ) -> Job:
        """`fn(*args)` in a worker (`fn(channel, *args)` when `streaming`), after the jobs queued before it, followed
        by a thread of its own; the visitor's older job, if any, is stopped (Job.stop). A job of no visitor (None) is a
        visitor of its own."""
        self.start()
        job = Job(object() if visitor is None else visitor, streaming, alive)
        with self._cond:
            if (old := self._latest.get(visitor)) is not None:
                old.stop(REPLACED)  # one job per visitor: the newer one is what the visitor asked for
            self._latest[visitor] = job
            self._queue.append(job)
            self._cond.notify_all()
        threading.Thread(target=self._follow, args=(job, fn, args), daemon=True, name="netbuilder-job").start()
        return job

    def run(
        self,
        fn: Callable,
        args: tuple,
        visitor: object,
        checkpoint: Callable[[], None] | None = None,
        waiting: Callable[[int], None] | None = None,
    ):
        """`fn(*args)` in a worker, waited for here: its result, or WorkerFailed or Cancelled. `checkpoint` is called
        meanwhile (raising there cancels the job), `waiting(ahead)` when the jobs queued before it change."""
        job = self.submit(fn, args, visitor)
        said = None
        try:
            while not job.wait(POLL_SECONDS):
                if waiting is not None and job.ahead is not None and job.ahead != said:
                    said = job.ahead
                    waiting(said)
                if checkpoint is not None:
                    checkpoint()
        except BaseException:
            job.cancel("its visitor left")
            raise
        return job.result()

    def _follow(self, job: Job, fn: Callable, args: tuple) -> None:
        """A job's life, in its own thread: its turn, its run, its end (an error of ours said as a failed run)."""
        try:
            worker = self._turn(job)
            job._end("ok", self._run_on(worker, job, fn, args))
        except NetbuilderError as e:
            job._end("error", e)
        except Exception:  # noqa: BLE001 — never leave a visitor waiting for a job that cannot end
            logging.getLogger("netbuilder").exception("a worker job failed in the server")
            job._end("error", WorkerFailed("the run could not be handed to a worker"))
        finally:
            with self._cond:
                if job in self._queue:
                    self._queue.remove(job)
                if self._latest.get(job.visitor) is job:
                    del self._latest[job.visitor]
                self._cond.notify_all()

    def _turn(self, job: Job) -> _Worker:
        """Wait until `job` is first in the queue and a worker is idle; that worker, now busy."""
        while True:
            with self._cond:
                if why := job.why_end_now() or job.stop_reason:  # waiting, even a streaming job has nothing to give
                    raise Cancelled(why)
                ahead = self._queue.index(job)
                if ahead == 0 and self._idle:
                    self._queue.popleft()
                    job.ahead = None
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                job.ahead = ahead
                self._cond.wait(timeout=POLL_SECONDS)

    def _run_on(self, worker: _Worker, job: Job, fn, args):
        """The job on `worker`: its progress kept as it comes, a stop passed on, its time limit kept; its result."""
        limit = time.monotonic() + self.config.seconds
        healthy = asked = False
        try:
            self._talk(worker, send, (fn, args, job.streaming))
            while True:
                if ready(worker.conn, POLL_SECONDS):
                    kind, value = self._talk(worker, receive)
                    if kind != "progress":
                        break
                    job.progress = value
                over = time.monotonic() - limit
                if over > 0 and (not job.streaming or over > STOP_GRACE_SECONDS):
                    raise WorkerFailed(
                        f"the run took longer than {self.config.seconds:,} s, this server's limit for one run, "
                        "and was stopped"
                    )
                if over > 0:
                    job.stop(f"it reached this server's limit of {self.config.seconds:,} s for one run")
                if why := job.why_end_now():
                    raise Cancelled(why)
                if job.stop_reason and not asked:
                    self._talk(worker, send, STOP)
                    asked = True
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
            _pool = Pool(config_from_environment(os.environ), warm=("netbuilder.studio.train",))
        return _pool
