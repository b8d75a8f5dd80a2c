import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def loopback_receivers():
    """Opt the suite in to outgoing connections to loopback and private addresses.

    Its webhook receivers, proxies and sinks listen on 127.0.0.1, which the gateway refuses by
    default (waengine/netguard.py, docs/security.md). The setting goes to the environment so
    gateways started as subprocesses (gunicorn) get it too; a test of the refusal overrides it
    with WEBHOOK_ALLOW_PRIVATE=False in its config.
    """
    before = os.environ.get("WAENGINE_WEBHOOK_ALLOW_PRIVATE")
    os.environ["WAENGINE_WEBHOOK_ALLOW_PRIVATE"] = "1"
    yield
    if before is None:
        del os.environ["WAENGINE_WEBHOOK_ALLOW_PRIVATE"]
    else:
        os.environ["WAENGINE_WEBHOOK_ALLOW_PRIVATE"] = before


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
