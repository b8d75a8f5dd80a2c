"""The C library, loaded once: glibc's malloc tuning (ops/memory.py) and prctl (engine)."""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache


@lru_cache(maxsize=1)
def libc() -> ctypes.CDLL | None:
    """The C library (glibc for malloc_trim, mallinfo2, prctl); None where it cannot be loaded."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
