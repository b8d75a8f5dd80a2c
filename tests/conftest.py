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


# The store's two backends: store-level tests run on each (`database` parametrized).
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the whole run (each test gets its own database)."""
    from .pg import PostgresServer

    server = PostgresServer()
    yield server
    server.close()


@pytest.fixture
def database(request):
    """The DATABASE_URL of this test's backend: "" (SQLite under DATA_DIR) or a fresh
    PostgreSQL database, dropped afterwards. SQLite unless parametrized with BACKENDS."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield ""
        return
    server = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def make_store(database, tmp_path):
    """Open a store on this test's backend (again: the same database); closed afterwards."""
    from waengine.backends import open_store

    opened = []

    def make(**config):
        store = open_store({"DATABASE_URL": database, "STORE_BUSY_TIMEOUT": 2.0, **config},
                           tmp_path / "store")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()
