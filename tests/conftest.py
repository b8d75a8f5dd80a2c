import pytest


def wait_for(predicate, timeout=30.0, interval=0.05, message="condition"):
    """Poll until predicate() is truthy; return its value (tests wait on conditions, not sleeps)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


@pytest.fixture
def waiter():
    return wait_for
