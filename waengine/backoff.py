"""The one backoff formula: a delay that doubles with each failure in a row, up to a cap."""

from __future__ import annotations


def backoff(failures: int, base: float, cap: float = float("inf")) -> float:
    """base for the first failure, doubling with each one after it, at most cap."""
    return min(cap, base * 2 ** min(max(failures - 1, 0), 30))


def store_retry(failures: int) -> float:
    """The wait before writing again to a store that refused (locked, disk full): 0.5 s
    doubling to 30 s."""
    return backoff(failures, 0.5, 30.0)
