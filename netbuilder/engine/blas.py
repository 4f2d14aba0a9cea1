"""The thread count of the BLAS NumPy loaded, read and set at run time with ctypes (no dependency).

A server runs several visitors' NumPy work in threads of one process on few cores: a multithreaded
BLAS then fights those threads for the cores, and one matmul-heavy step takes many times longer
(bench/bench_blas.py measures it). OPENBLAS_NUM_THREADS and the like are read only when NumPy's BLAS
loads, which in a Streamlit app happened before our code ran, and some hosts let no one set them.

How the library is found: NumPy's `_multiarray_umath` extension links its BLAS, so looking a symbol up
through that extension's handle (dlsym searches an object and the libraries it depends on) reaches
exactly the BLAS NumPy uses, wherever it lives. Where that search does not reach dependencies
(Windows), the BLAS libraries vendored next to the wheel (`numpy.libs`, `numpy/.dylibs`) are tried.
Libraries are opened with RTLD_NOLOAD where the system has it: we touch only what is already loaded.

The count is process-wide for the pthreads OpenBLAS of NumPy's wheels, MKL, BLIS and FlexiBLAS; an OpenBLAS
built on OpenMP keeps it per calling thread (there, set it in the thread that does the work).
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import os
import re
from pathlib import Path
from typing import Callable, NamedTuple

# (name, setter, getter, C type of the count) of each BLAS we can set; the first one found wins.
# OpenBLAS's names vary by build: NumPy 2 wheels bundle scipy_openblas (prefix `scipy_`, suffix `64_`
# in the ILP64 build), older wheels and distributions plain `openblas_`, ILP64 distributions a suffix.
_OPENBLAS = tuple(
    (
        f"OpenBLAS ({prefix}openblas_…{suffix})",
        f"{prefix}openblas_set_num_threads{suffix}",
        f"{prefix}openblas_get_num_threads{suffix}",
        ctypes.c_int,
    )
    for prefix in ("scipy_", "")
    for suffix in ("64_", "_64", "")
)
_APIS = _OPENBLAS + (
    ("MKL", "MKL_Set_Num_Threads", "MKL_Get_Max_Threads", ctypes.c_int),
    ("BLIS", "bli_thread_set_num_threads", "bli_thread_get_num_threads", ctypes.c_int64),  # BLIS counts in dim_t
    ("FlexiBLAS", "flexiblas_set_num_threads", "flexiblas_get_num_threads", ctypes.c_int),
)
_BLAS_FILE = re.compile(r"blas|mkl_rt|libblis", re.IGNORECASE)  # vendored files worth opening (not libgfortran)


class Blas(NamedTuple):
    """A settable BLAS: which API it speaks, the library it was reached through, and its two calls."""

    api: str
    library: str
    set: Callable[[int], None]
    get: Callable[[], int]


def _numpy_extension() -> str | None:
    """The file of NumPy's compiled core (the object that links the BLAS)."""
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # NumPy 2, NumPy 1
        try:
            return importlib.import_module(name).__file__
        except (ImportError, AttributeError):
            continue
    return None


def _vendored() -> list[str]:
    """BLAS libraries a NumPy wheel bundles beside itself (auditwheel/delvewheel: numpy.libs; delocate: .dylibs)."""
    try:
        import numpy
    except ImportError:
        return []
    here = Path(numpy.__file__).parent
    found = []
    for folder in (here.parent / "numpy.libs", here / ".dylibs"):
        if folder.is_dir():
            found += sorted(str(p) for p in folder.iterdir() if _BLAS_FILE.search(p.name))
    return found


def default_libraries() -> tuple[str, ...]:
    """Where NumPy's BLAS is looked for, in order: NumPy's core extension, then the wheel's vendored BLAS."""
    return tuple(p for p in (_numpy_extension(), *_vendored()) if p)


def _open(path: str) -> ctypes.CDLL | None:
    """A handle on `path` if it is already loaded (never loads a BLAS NumPy did not)."""
    mode = getattr(os, "RTLD_NOLOAD", 0) | getattr(
        os, "RTLD_LOCAL", 0
    )  # Windows has neither: LoadLibrary shares a loaded DLL
    try:
        return ctypes.CDLL(path, mode=mode)
    except OSError:
        return None


class _DlInfo(ctypes.Structure):
    _fields_ = [
        ("fname", ctypes.c_char_p),
        ("fbase", ctypes.c_void_p),
        ("sname", ctypes.c_char_p),
        ("saddr", ctypes.c_void_p),
    ]


def _origin(fn, fallback: str) -> str:
    """The file that defines `fn` (dladdr), so a symbol found through NumPy's extension names the BLAS itself."""
    try:
        dladdr = ctypes.CDLL(None).dladdr
    except (OSError, AttributeError, TypeError):  # Windows: no dladdr, and the symbol came from `fallback` itself
        return fallback
    info = _DlInfo()
    if not dladdr(ctypes.cast(fn, ctypes.c_void_p), ctypes.byref(info)) or not info.fname:
        return fallback
    return os.path.realpath(os.fsdecode(info.fname))


def _api(lib: ctypes.CDLL, path: str) -> Blas | None:
    """The first BLAS API whose setter and getter both resolve through `lib`."""
    for name, setter, getter, count in _APIS:
        try:
            set_fn, get_fn = getattr(lib, setter), getattr(lib, getter)
        except AttributeError:
            continue
        set_fn.argtypes, set_fn.restype = [count], None
        get_fn.argtypes, get_fn.restype = [], count
        return Blas(name, _origin(get_fn, path), set_fn, get_fn)
    return None


@functools.lru_cache(maxsize=8)
def _find(libraries: tuple[str, ...]) -> Blas | None:
    for path in libraries:
        lib = _open(path)
        found = lib and _api(lib, path)
        if found:
            return found
    return None


def find_blas(libraries=None) -> Blas | None:
    """The settable BLAS reached through `libraries` (default: NumPy's), or None when there is none."""
    return _find(default_libraries() if libraries is None else tuple(str(p) for p in libraries))


def blas_threads(libraries=None) -> int | None:
    """The BLAS's thread count now, or None when no settable BLAS is found."""
    blas = find_blas(libraries)
    return None if blas is None else int(blas.get())


def set_blas_threads(n: int, libraries=None) -> int | None:
    """Set the BLAS to `n` threads process-wide; the count it reports afterwards, or None (nothing done) without one."""
    if n < 1:
        raise ValueError(f"a BLAS needs at least 1 thread, not {n}")
    blas = find_blas(libraries)
    if blas is None:
        return None
    if blas.get() != n:  # idempotent: a call per page run costs one read, and never resizes a pool in use for nothing
        blas.set(n)
    return int(blas.get())
