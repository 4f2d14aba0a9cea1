"""netbuilder.engine.blas sets the thread count of the BLAS NumPy loaded, checked against threadpoolctl's reading."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import _ctypes
import numpy as np  # noqa: F401 - NumPy's BLAS is what is set
import pytest

from netbuilder.engine.blas import blas_threads, default_libraries, find_blas, set_blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl")
ROOT = Path(__file__).resolve().parents[1]
NO_BLAS = _ctypes.__file__  # a loaded shared object that defines no BLAS symbol (nor links a BLAS)


def oracle(path: str) -> int:
    """threadpoolctl's reading of the library at `path`: an independent reader of the same pool."""
    (info,) = [i for i in threadpoolctl.threadpool_info() if os.path.realpath(i["filepath"]) == path]
    return info["num_threads"]


@pytest.fixture
def blas():
    found = find_blas()
    if found is None:
        pytest.skip("this NumPy's BLAS has no thread count to set")
    before = blas_threads()
    yield found
    set_blas_threads(before)
    assert blas_threads() == before


def test_finds_the_blas_threadpoolctl_finds(blas):
    blas_libs = [os.path.realpath(i["filepath"]) for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert blas.library in blas_libs
    assert blas_threads() == oracle(blas.library)


@pytest.mark.parametrize("n", [1, 2])
def test_set_then_read_back(blas, n):
    assert set_blas_threads(n) == n
    assert blas_threads() == n
    assert oracle(blas.library) == n


def test_read_back_what_threadpoolctl_set(blas):
    for n in (1, 2):
        with threadpoolctl.threadpool_limits(n, user_api="blas"):
            assert blas_threads() == n


def test_setting_the_same_count_again_is_harmless(blas):
    assert set_blas_threads(1) == set_blas_threads(1) == 1
    assert oracle(blas.library) == 1


def test_the_count_holds_in_other_threads(blas):
    """A server's visitors run in threads: NumPy's pthreads OpenBLAS keeps one process-wide count."""
    import threading

    set_blas_threads(1)
    seen = []
    worker = threading.Thread(target=lambda: seen.append(blas_threads()))
    worker.start()
    worker.join()
    assert seen == [1]


def test_refuses_fewer_than_one_thread(blas):
    with pytest.raises(ValueError):
        set_blas_threads(0)
    assert oracle(blas.library) == blas_threads()


def test_the_default_search_starts_at_numpys_core_extension():
    libs = default_libraries()
    assert libs and "_multiarray_umath" in Path(libs[0]).name


# --- no settable BLAS: None, nothing done, nothing raised --------------------------------------------------
@pytest.mark.parametrize("libraries", [[NO_BLAS], ["/nonexistent/libopenblas.so"], []])
def test_a_library_without_blas_symbols_gives_none(libraries):
    before = blas_threads()
    assert find_blas(libraries) is None
    assert blas_threads(libraries) is None
    assert set_blas_threads(1, libraries) is None
    assert blas_threads() == before  # NumPy's BLAS untouched


def test_the_finder_falls_through_to_the_next_library(blas):
    """As on Windows, where the core extension's handle does not reach its dependencies: the vendored file is tried
    next."""
    found = find_blas([NO_BLAS, blas.library])
    assert found is not None and found.library == blas.library and found.api == blas.api


def test_works_without_threadpoolctl_in_a_fresh_process():
    """The runtime needs no threadpoolctl: a fresh interpreter that cannot import it still sets the count."""
    code = textwrap.dedent("""
        import sys
        sys.modules["threadpoolctl"] = None  # importing it now fails
        from netbuilder.engine.blas import blas_threads, set_blas_threads
        print(
            set_blas_threads(1),
            blas_threads(),
            "threadpoolctl" in sys.modules and sys.modules["threadpoolctl"] is not None,
        )
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    expected = "None None False" if find_blas() is None else "1 1 False"
    assert done.stdout.split() == expected.split()
