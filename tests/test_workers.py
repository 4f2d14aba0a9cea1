"""The worker pool (studio.workers) with real processes: results come back as computed here, a killed or crashed
worker or one out of memory or time gives words and is replaced, jobs wait first come first served and say how many
are ahead, a visitor's newer job replaces its older one, and visitors' results never mix. The jobs are the standard
library's own functions, which every worker can import."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from conftest import eventually
from netbuilder.engine.budget import public, using
from netbuilder.engine.errors import LimitError
from netbuilder.studio import run, workers
from netbuilder.studio.models import built
from netbuilder.studio.spec import LayerSpec, ModelSpec
from netbuilder.studio.workers import Cancelled, Pool, PoolConfig, WorkerFailed, config_from_environment
from netbuilder.views import export
from netbuilder.views.heatmap import CUT


@pytest.fixture
def pool():
    made = Pool(PoolConfig(workers=1, memory_bytes=1_000_000_000, seconds=20))
    yield made
    made.close()


def in_thread(fn, *args, **kwargs):
    """Start fn in a thread; a function that joins it and gives its result or raises its exception."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 — handed to the test
            box["error"] = e

    thread = threading.Thread(target=target)
    thread.start()

    def result():
        thread.join(timeout=30)
        if "error" in box:
            raise box["error"]
        return box["value"]

    return result


def test_a_job_gives_what_its_function_returns_and_a_crash_is_said_in_words(pool):
    assert pool.run(pow, (2, 10), visitor=1) == 1024
    with pytest.raises(WorkerFailed, match="the run failed in its worker: ValueError: invalid literal"):
        pool.run(int, ("x",), visitor=1)
    assert pool.run(pow, (3, 3), visitor=1) == 27  # the same worker goes on


def test_a_worker_killed_mid_run_gives_a_message_and_is_replaced(pool):
    pool.start()
    (pid,) = pool.pids()
    result = in_thread(pool.run, time.sleep, (10,), visitor=1)
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(WorkerFailed, match="the worker process running it stopped"):
        result()
    assert pool.pids() != [pid] and pool.run(pow, (2, 5), visitor=2) == 32


def test_a_run_over_the_workers_memory_is_stopped_with_words(pool):
    with pytest.raises(WorkerFailed, match="needed more memory than a worker's 954 MiB"):
        pool.run(bytearray, (2_000_000_000,), visitor=1)
    assert pool.run(pow, (2, 2), visitor=1) == 4


def test_a_run_past_its_time_limit_is_stopped_and_its_worker_replaced():
    pool = Pool(PoolConfig(workers=1, memory_bytes=1_000_000_000, seconds=1))
    try:
        pool.start()
        (pid,) = pool.pids()
        start = time.monotonic()
        with pytest.raises(WorkerFailed, match="took longer than 1 s, this server's limit for one run"):
            pool.run(time.sleep, (30,), visitor=1)
        assert time.monotonic() - start < 5 and pool.pids() != [pid]
        assert pool.run(pow, (2, 3), visitor=1) == 8
    finally:
        pool.close()


def test_a_checkpoint_that_raises_cancels_a_running_job_and_its_worker_is_replaced(pool):
    pool.start()
    (pid,) = pool.pids()
    deadline = time.monotonic() + 0.5

    def checkpoint():
        if time.monotonic() > deadline:
            raise KeyboardInterrupt("the visitor left")

    with pytest.raises(KeyboardInterrupt):
        pool.run(time.sleep, (30,), visitor=1, checkpoint=checkpoint)
    assert eventually(lambda: pool.pids() != [pid]) and pool.run(pow, (2, 4), visitor=1) == 16


def test_jobs_wait_first_come_first_served_and_are_told_how_many_are_ahead(pool):
    done, told = [], {"b": [], "c": []}

    def job(name, seconds, delay):
        time.sleep(delay)
        pool.run(time.sleep, (seconds,), visitor=name, waiting=told.get(name, []).append)
        done.append(name)

    results = [in_thread(job, "a", 1.0, 0), in_thread(job, "b", 0.1, 0.3), in_thread(job, "c", 0.1, 0.6)]
    for result in results:
        result()
    assert done == ["a", "b", "c"]
    assert told["b"] == [0] and told["c"] == [1, 0]  # c waited behind b, then was next


def test_a_queued_job_whose_checkpoint_raises_leaves_the_queue_and_the_next_one_moves_up(pool):
    told = []
    running = in_thread(pool.run, time.sleep, (1.5,), visitor="a")
    time.sleep(0.3)
    deadline = time.monotonic() + 0.3

    def leave():
        if time.monotonic() > deadline:
            raise KeyboardInterrupt("the visitor closed the tab")

    queued = in_thread(pool.run, pow, (2, 1), visitor="b", checkpoint=leave)
    time.sleep(0.1)
    after = in_thread(pool.run, pow, (2, 2), visitor="c", waiting=told.append)
    with pytest.raises(KeyboardInterrupt):
        queued()
    running()
    assert after() == 4 and told == [1, 0]  # behind b, then next once b left


def test_a_visitors_newer_job_replaces_its_older_one(pool):
    older = in_thread(pool.run, time.sleep, (10,), visitor="v")
    time.sleep(0.5)
    assert pool.run(pow, (2, 6), visitor="v") == 64
    with pytest.raises(Cancelled, match="a newer run of yours replaced this one"):
        older()


def test_two_visitors_results_never_mix():
    pool = Pool(PoolConfig(workers=2, memory_bytes=1_000_000_000, seconds=20))
    try:
        results = {k: in_thread(lambda k=k: [pool.run(pow, (k, n), visitor=k) for n in range(20)]) for k in (2, 3)}
        assert results[2]() == [2**n for n in range(20)] and results[3]() == [3**n for n in range(20)]
    finally:
        pool.close()


def test_a_heavy_forward_pass_runs_in_a_worker_and_gives_what_it_gives_here():
    spec = ModelSpec((4096,), (LayerSpec.make(0, "Dense", units=2000, activation="tanh"),), 3)
    x = np.random.default_rng(0).normal(size=(4, 4096)).astype(np.float32)
    with using(public()):
        assert run.is_heavy(spec.analysis.cost.weight_bytes, 0)  # 32 MB of weights: past the in-process bound
        shown = run.output(spec, x, 3, CUT).shown
        here = built(spec).predict(x)
        assert shown.shape == (4, 2000)
        np.testing.assert_array_equal(shown.matrix, here[3:4, : CUT.columns])
        np.testing.assert_array_equal(shown.finite, (here[3].min(), here[3].max()))
        last = run.forward(spec, x, 3, CUT).tensors[-1]
        np.testing.assert_array_equal(last.matrix, shown.matrix)
    assert workers.pool().pids()


def test_a_heavy_models_weights_are_made_in_a_worker_and_only_their_drawn_corners_come_back():
    from netbuilder.studio import models

    spec = ModelSpec((4096,), (LayerSpec.make(0, "Dense", units=2000),), 4)  # 32 MB of weights
    with using(public()):
        assert run.is_heavy(spec.analysis.cost.weight_bytes, 0)
        (layer,) = run.shown_weights(spec, CUT)
    assert models.content_key(spec) not in models._cache  # not made here
    kernel, bias = built(spec).layers[0].weights
    assert (layer.name, layer.kind) == ("dense", "Dense")
    assert [(w.name, w.shape, w.trainable) for w in layer.weights] == [
        ("kernel", (4096, 2000), True),
        ("bias", (2000,), True),
    ]
    np.testing.assert_array_equal(layer.weights[0].matrix, kernel[:64, :256])
    np.testing.assert_array_equal(layer.weights[1].matrix, bias[None, :256])
    small = ModelSpec((3, 2), (LayerSpec.make(0, "Dense", units=4),), 4)
    assert not run.is_heavy(small.analysis.cost.weight_bytes, 0)
    (here,) = run.shown_weights(small, CUT)  # light: made here
    assert models.content_key(small) in models._cache
    np.testing.assert_array_equal(here.weights[0].matrix, built(small).layers[0].weights[0])


def test_a_large_input_and_its_tensors_stay_in_the_worker_and_only_what_is_drawn_comes_back():
    import tracemalloc

    from netbuilder.studio import data

    spec = ModelSpec((4096, 1024), (LayerSpec.make(0, "Activation", activation="relu"),), 0)
    parsed = data.parse_array("random:7", spec.input_shape)  # 16 MB of input, and 16 MB of output
    assert isinstance(parsed.batch, data.Fill) and parsed.batch.shape == (1, 4096, 1024)
    with using(public()):
        tracemalloc.start()
        try:
            ran = run.forward(spec, parsed.batch, 0, CUT)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 2**20  # what is drawn of two tensors and the messages: neither 16 MB tensor
    x = data.fill("random", spec.input_shape, seed=7)
    np.testing.assert_array_equal(parsed.array, x)
    given, output = ran.tensors
    assert given.shape == output.shape == (1, 4096, 1024)
    np.testing.assert_array_equal(given.matrix, x[0, : CUT.rows, : CUT.columns])
    np.testing.assert_array_equal(output.matrix, np.maximum(x[0, : CUT.rows, : CUT.columns], 0))
    assert output.finite == (0.0, float(x.max()))  # of the whole sample, not only what is drawn


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"NETBUILDER_WORKERS": "0"}, "NETBUILDER_WORKERS (worker processes for heavy runs) must be a positive"),
        ({"NETBUILDER_WORKER_SECONDS": "ten"}, "NETBUILDER_WORKER_SECONDS (time limit of one run in a worker"),
    ],
)
def test_the_pool_is_configured_by_the_environment_and_a_bad_value_is_named(environ, message):
    assert config_from_environment({}) == PoolConfig()
    assert config_from_environment({"NETBUILDER_WORKERS": "4"}).workers == 4
    with pytest.raises(LimitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_from_environment(environ)


def test_a_long_export_is_written_in_a_worker_as_it_is_written_here():
    spec = ModelSpec((1024,), (LayerSpec.make(0, "Dense", units=520),), 5)  # 533,000 weights: about 8.5 M characters
    assert run.is_heavy(export.CHARS_PER_WEIGHT * spec.analysis.total_params, 0)
    with using(public()):
        assert run.in_worker(export.spec_text, spec, ("Keras code",)) == export.keras_code(built(spec))


def test_the_weights_cache_drops_the_oldest_models_down_to_a_new_bound_as_a_worker_sets_it():
    from netbuilder.studio import models

    specs = [ModelSpec((256,), (LayerSpec.make(0, "Dense", units=256),), seed) for seed in range(3)]  # 257 KB each
    try:
        for spec in specs:
            models.built(spec)
        newest = models.built(specs[-1])
        models.bound_cache(300_000)  # a worker's bound: one model's weights
        assert models.cached_bytes() <= 300_000 and models.built(specs[-1]) is newest  # the newest one kept
    finally:
        models.bound_cache(models.CACHE_BYTES)


def test_a_worker_runs_below_the_servers_priority(pool):
    """Heavy runs yield the cores to the server's page runs and health checks."""
    niceness = pool.run(os.getpriority, (os.PRIO_PROCESS, 0), "a visitor")
    assert niceness == min(19, os.getpriority(os.PRIO_PROCESS, 0) + workers.WORKER_NICENESS)  # 19: the lowest
