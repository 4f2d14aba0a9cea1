"""A shared deployment survives its visitors: each attack that took a server down, through the real app.

Every recipe gets a clear message and a working page, and proof that nothing over the budget was
allocated: tracemalloc's peak during the app run (NumPy reports every buffer to it) stays far below
what the recipe asked for. A model over the budgets opens as what it is, shapes (arithmetic, never budgeted), and
the page says why it does not run.
"""

import base64
import json
import re
import tracemalloc
import time
import zlib

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import eventually
from netbuilder.engine.budget import PUBLIC_DEFAULTS
from netbuilder.studio import models, share
from netbuilder.studio.spec import LayerSpec, ModelSpec, seed_spec
from netbuilder.views.heatmap import CUT
from test_app import EXPORT, model, open_app, page, run, select, shown, texts

MB = 2**20


def v1_link(layers, input_shape) -> str:
    """A link as the previous main wrote them (version 1): what an attacker had at hand."""
    doc = {"model": {"input_shape": list(input_shape), "seed": 0, "layers": layers}}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return "1." + base64.urlsafe_b64encode(zlib.compress(raw, 9)).rstrip(b"=").decode()


def peak_bytes(action) -> tuple[object, int]:
    """Run `action` and return its result and the peak bytes allocated meanwhile."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = action()
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def too_large(at: AppTest) -> str:
    """The Build page's one warning that the model is over the budgets."""
    (warning,) = [shown(w.value) for w in at.warning if shown(w.value).startswith("Too large to run on this server")]
    return warning


def test_a_190_character_link_asking_for_6_gb_of_weights_opens_as_shapes_and_nothing_is_built():
    token = v1_link([{"id": i, "kind": "Dense", "units": 4096, "input_dim": 65536} for i in range(4)], (65536,))
    assert len(token) < 200
    at, peak = peak_bytes(lambda: open_app({"model": token}))
    assert [layer.built_for for layer in model(at).layers] == [(65536,)] * 4
    assert "its weights would take 1.0 GB (268,439,552 parameters); the budget is 64.0 MB" in too_large(at)
    assert "No forward pass: this model is too large to run on this server" in texts(page(at, 1))
    assert peak < 60 * MB  # one such Dense alone is 1 GB


def test_a_23_kb_keras_json_of_200_wide_dense_layers_opens_as_shapes_and_nothing_is_built():
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 65536]}}]
    layers += [
        {
            "class_name": "Dense",
            "config": {"name": f"d{i}", "units": 65536},
            "build_config": {"input_shape": [None, 65536]},
        }
        for i in range(200)
    ]
    text = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": layers}})
    at = open_app()
    at.text_area(key="import_text").input(text)
    at, peak = peak_bytes(lambda: run(at.button(key="import").click()))
    assert len(model(at).layers) == 200 and model(at).analysis.total_params == 200 * (65536 * 65536 + 65536)
    assert "(859,006,566,400 parameters); the budget is 64.0 MB" in too_large(at)
    assert peak < 60 * MB
    _, peak = peak_bytes(lambda: page(at, EXPORT))  # its Keras JSON, written from settings
    assert "Code with its weights needs a model within the budgets" in texts(at)
    (code,) = [code for code in at.code if code.language == "json"]
    assert '"class_name": "Sequential"' in code.value[:100] and peak < 60 * MB


def test_a_model_whose_one_sample_is_over_the_memory_or_work_budget_is_not_run_and_the_page_says_why():
    gelu = [{"id": i + 1, "kind": "Activation", "activation": "gelu"} for i in range(199)]
    token = v1_link([{"id": 0, "kind": "Dense", "units": 65536}, *gelu], (1024, 1))
    at, peak = peak_bytes(lambda: open_app({"model": token}))
    assert len(model(at).layers) == 200
    # the Dense's output alone is 1024 × 65,536 floats (256 MB); gelu then holds its input and output at once
    need = re.search(
        r"one sample's forward pass would need ([\d.]+) MB at once; the memory budget per run is 96.0 MB", too_large(at)
    )
    assert float(need.group(1)) > 512
    assert peak < 60 * MB
    token = v1_link([{"id": 0, "kind": "Dense", "units": 1024}, *gelu], (1024, 1))  # small tensors, too much work
    at = open_app({"model": token})
    assert len(model(at).layers) == 200 and "multiply-adds of work; the budget per run is 40.0 G" in too_large(at)


def test_a_link_of_recurrent_layers_over_a_million_steps_is_not_run_and_says_how_to_get_under_the_budget():
    """Issue 9's audit: 2 × GRU(1, return_sequences=True) on a million steps counted 1.5 G of work and held the
    server's heavy slot for 40 s (another visitor's model waited as long); 50 of them, about 15 minutes."""

    def opened(layers: int) -> str:
        gru = [{"id": i, "kind": "GRU", "units": 1, "return_sequences": True} for i in range(layers)]
        at = open_app({"model": v1_link(gru, (1_000_000, 1))})
        assert len(model(at).layers) == layers
        return too_large(at)

    text = opened(2)
    work = re.search(r"one sample's forward pass would be ([\d,.]+) G multiply-adds of work", text).group(1)
    assert abs(float(work.replace(",", "")) - 2 * 480.8) < 0.2  # 480.8 G a layer
    assert "the budget per run is 40.0 G" in text and "use fewer time steps" in text
    # 50 recurrent kernels' Orthogonal draws (a QR each) are over the budget before any step is
    draws = re.search(r"drawing its initial weights is ([\d.]+) G multiply-adds of work", opened(50)).group(1)
    assert float(draws) > 40


def test_a_batch_over_the_run_budget_is_refused_before_running_and_names_the_batch_that_fits():
    spec = ModelSpec((512,), (LayerSpec.make(0, "Dense", units=16384, activation="sigmoid"),), 0)
    at = open_app({"model": share.encode(spec)})
    select(at, "input")
    run(at.text_area(key="input_text").input(json.dumps(np.zeros((600, 512)).tolist())))
    at, peak = peak_bytes(lambda: run(at))
    text = texts(at)
    assert "No output: a forward pass of 600 samples needs" in text and "use at most" in text
    assert peak < 80 * MB  # 600 samples of this model would hold about 120 MB of tensors at once
    page(at, 1)
    assert "No forward pass: a forward pass of 600 samples" in texts(at)


def test_undo_history_holds_specs_and_the_weights_cache_stays_within_its_bytes():
    big = ModelSpec((2048,), tuple(LayerSpec.make(i, "Dense", units=2048) for i in range(3)), 0)  # 12.6 M params, 50 MB
    at = open_app({"model": share.encode(big)})
    for _ in range(8):
        run(at.button(key="random_seed").click())
    history = at.session_state.history
    assert len(history) == 9
    assert models.cached_bytes() <= models.CACHE_BYTES
    assert not any(isinstance(value, np.ndarray) for state in history._past for value in vars(state).values())
    tracemalloc.start()
    try:
        held_before = tracemalloc.get_traced_memory()[0]
        for _ in range(6):
            run(at.button(key="undo").click())  # each undo shows an older model: weights are drawn again, cache-bounded
        assert models.cached_bytes() <= models.CACHE_BYTES
        assert tracemalloc.get_traced_memory()[0] - held_before < models.CACHE_BYTES + PUBLIC_DEFAULTS.weight_bytes
    finally:
        tracemalloc.stop()


def test_exporting_code_over_the_export_budget_is_refused_before_writing():
    big = ModelSpec((2048,), (LayerSpec.make(0, "Dense", units=2048),), 0)  # 4.2 M weights: about 67 MB of code
    at = open_app({"model": share.encode(big)})
    _, peak = peak_bytes(lambda: page(at, EXPORT))
    assert "code with this model's 4,196,352 weights would be about" in texts(at) and "the export budget" in texts(at)
    assert peak < 60 * MB
    run(at.segmented_control(key="export_format").set_value("Keras JSON"))
    assert json.loads(page(at, EXPORT).code[0].value)["config"]["layers"][1]["config"]["units"] == 2048


def test_a_failing_page_part_is_caught_there_and_the_rest_of_the_page_works():
    def script():
        import streamlit as st

        from netbuilder.ui import state

        with state.guard("graph"):
            raise MemoryError("no room")
        with state.guard("summary"):
            raise KeyError("a bug")
        st.button("Undo", key="undo")

    at = AppTest.from_function(script).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        (
            "The graph could not be shown: it needs more memory than this server can give. "
            "The model was kept; Undo and every other part still work."
        ),
        (
            "The summary could not be shown: something went wrong. "
            "The model was kept; Undo and every other part still work."
        ),
    ]
    assert at.button(key="undo")  # drawn after both failures
    assert "no room" not in str(at) and "KeyError" not in str(at)  # nothing about the error reaches the visitor


def test_heavy_work_runs_one_at_a_time_and_light_work_never_waits():
    import threading

    from netbuilder.studio.models import HEAVY_BYTES, heavy_slot

    inside, most, light_done = [0], [0], threading.Event()
    lock = threading.Lock()

    def heavy():
        with heavy_slot(nbytes=HEAVY_BYTES + 1):
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            light_done.wait(5)  # a light job gets through while a heavy one holds the slot
            with lock:
                inside[0] -= 1

    workers = [threading.Thread(target=heavy) for _ in range(3)]
    for w in workers:
        w.start()
    with heavy_slot(nbytes=1):
        light_done.set()
    for w in workers:
        w.join(10)
    assert most[0] == 1 and not any(w.is_alive() for w in workers)


def test_a_heavy_output_runs_in_a_worker_beside_the_servers_heavy_slot_and_stops_when_its_visitor_leaves():
    """GRU(1) over 50,000 steps: about 24 G of work (its loop), little memory: heavy, so it runs in a worker process.
    Another visitor's heavy work holding the server's slot does not make it wait; it gives what the model computes
    here; a visitor who leaves stops it (its worker is replaced)."""
    import threading

    from netbuilder.studio import run as runs
    from netbuilder.studio import workers
    from netbuilder.studio.models import HEAVY_BYTES, HEAVY_WORK, heavy_slot

    spec = ModelSpec((50_000, 1), (LayerSpec.make(0, "GRU", units=1),), 0)
    x = np.random.default_rng(0).normal(size=(1, 50_000, 1)).astype(np.float32)
    assert spec.analysis.cost.run_work(1) > HEAVY_WORK and spec.analysis.cost.predict_bytes(1) < HEAVY_BYTES
    holding, release = threading.Event(), threading.Event()

    def other_visitor():
        with heavy_slot(nbytes=HEAVY_BYTES + 1):
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=other_visitor)
    holder.start()
    holding.wait(5)
    try:
        said = []
        shown = runs.output(spec, x, 0, CUT, waiting=said.append)
        assert isinstance(shown, runs.Output) and not said  # computed while the slot was held: no waiting
        np.testing.assert_array_equal(shown.shown.matrix, models.built(spec).predict(x))
        before = workers.pool().pids()
        start = time.monotonic()

        def left() -> None:
            if time.monotonic() - start > 0.2:
                raise TimeoutError("the visitor left")

        with pytest.raises(TimeoutError):
            runs.output(spec, x, 0, CUT, checkpoint=left)
        assert eventually(lambda: workers.pool().pids() != before)  # the stopped run's worker was replaced
    finally:
        release.set()
        holder.join(5)


def test_the_build_pages_output_can_be_stopped_between_layers():
    """run.output hands the page's checkpoint to predict, as run.forward does to forward: called before each layer."""
    from netbuilder.studio import run as runs

    spec = ModelSpec((4,), tuple(LayerSpec.make(i, "Dense", units=4) for i in range(3)), 0)
    x = np.zeros((2, 4), np.float32)
    calls = []
    assert isinstance(runs.output(spec, x, 0, CUT, checkpoint=lambda: calls.append("output")), runs.Output)
    assert isinstance(runs.forward(spec, x, 0, CUT, checkpoint=lambda: calls.append("forward")), runs.ForwardRun)
    assert calls == ["output"] * 3 + ["forward"] * 3

    def stop():
        raise TimeoutError("the visitor left")

    try:
        runs.output(spec, x, 0, CUT, checkpoint=stop)
        raise AssertionError("the run went on")
    except TimeoutError:
        pass


def _keras_json(layers) -> str:
    return json.dumps(
        {
            "class_name": "Sequential",
            "config": {
                "name": "s",
                "layers": [{"class_name": "InputLayer", "config": {"batch_shape": [None, 8]}}, *layers],
            },
        }
    )


def test_a_paste_with_3000_digit_noise_shapes_is_refused_with_the_model_kept():
    """Before: it imported, then no link could be made for it and every later run of the session failed."""
    dropout = {"class_name": "Dropout", "config": {"name": "d", "rate": 0.5, "noise_shape": [None, int("9" * 3000)]}}
    at = open_app()
    at.text_area(key="import_text").input(_keras_json([dropout] * 4))
    run(at.button(key="import").click())
    assert model(at) == seed_spec()
    assert any("noise_shape sizes are at most 67,108,864" in shown(e.value) for e in [*at.error, *at.warning])


def test_a_model_too_large_for_any_link_keeps_the_page_and_undo_working():
    rng = np.random.default_rng(0)
    layers = tuple(
        LayerSpec.make(
            i,
            "Dropout",
            rate=float(rng.uniform(0.01, 0.99)),
            seed=int(rng.integers(2**32)),
            noise_shape=(None, *map(int, rng.integers(1, 6 * 10**7, 4))),
        )
        for i in range(200)
    )
    huge = ModelSpec((8, 8, 8, 8), layers, 0)
    at = open_app()
    at.session_state.history.push(huge)
    run(at)
    assert not at.exception
    assert model(at) == huge and "model" not in at.query_params  # no link in the address bar rather than a broken page
    assert any("cannot be shared as a link" in shown(w.value) for w in at.warning)
    run(at.button(key="undo").click())
    assert model(at) == seed_spec() and at.query_params["model"] == share.encode(
        seed_spec(), at.session_state.input_data
    )


# --- issue 17: recursion over visitor input, and the callbacks' boundary ---------------------------------------------
def test_pasted_code_a_thousand_operations_deep_is_refused_with_the_model_kept():
    """`x = a+a+…+a` (1,000 terms) took the page down with a RecursionError."""
    at = open_app()
    at.text_area(key="paste_text").input("x = " + "+".join(["a"] * 1000))
    run(at.button(key="paste_replace").click())
    assert model(at) == seed_spec()
    assert any("Could not read the layers: no layers found" in shown(e.value) for e in at.error)


def test_keras_json_with_a_setting_nested_500_deep_is_refused_with_the_model_kept():
    units = 1
    for _ in range(500):
        units = [units]
    dense = {"class_name": "Dense", "config": {"name": "d", "units": units}}
    at = open_app()
    at.text_area(key="import_text").input(_keras_json([dense]))
    run(at.button(key="import").click())
    assert model(at) == seed_spec()
    assert any("it is nested more than 64 levels deep" in shown(e.value) for e in at.error)


def test_an_exception_in_any_callback_becomes_a_message_where_the_visitor_acted(monkeypatch):
    """Callbacks run before the page is drawn, outside the page's guards: an unexpected exception there reached
    Streamlit's error box. Each is now said in words where the visitor acted, and the model is kept."""

    def deep(text):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("netbuilder.ui.state.parse_layers", deep)
    at = open_app()
    at.text_area(key="paste_text").input("Dense(4)")
    run(at.button(key="paste_append").click())  # run() insists no exception box is shown
    assert model(at) == seed_spec()
    assert any(
        shown(e.value) == "That did not work: what was given is nested too deeply. The model was kept as it was."
        for e in at.error
    )


def test_a_share_link_that_fails_unexpectedly_opens_the_default_model_with_a_message(monkeypatch):
    def broken(token):
        raise MemoryError

    monkeypatch.setattr("netbuilder.ui.state.share.decode", broken)
    at = open_app({"model": share.encode(seed_spec().with_seed(3))})
    assert model(at) == seed_spec()
    assert any(
        "The shared link could not be opened (it needs more memory than this server can give)" in shown(w.value)
        for w in at.warning
    )


def test_a_waiting_run_says_so_in_one_line_rewritten_as_the_runs_ahead_of_it_go():
    def script():
        from netbuilder.ui.state import Waiting

        say = Waiting()
        for ahead in (2, 1, 0):  # as the pool calls it while the runs before it finish
            say(ahead)

    at = AppTest.from_function(script).run()
    assert [c.value for c in at.caption] == ["Waiting for a free worker for this large run: yours is next."]
