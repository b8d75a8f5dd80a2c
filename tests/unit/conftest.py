import pytest

from waengine import create_app, engine_of

from .fakes import FakeFactory

FAST = {"ENV": "testing", "PUMP_INTERVAL": 0.02, "RESTART_BACKOFF": 0.01, "WA_LOAD_TIMEOUT": 5.0,
        "COMMAND_TIMEOUT": 2.0, "RESTART_MAX": 3}


@pytest.fixture
def factory():
    return FakeFactory()


@pytest.fixture
def make_app(tmp_path, factory, database):
    apps = []

    def make(**overrides):
        app = create_app({**FAST, "DATA_DIR": str(tmp_path / "data"), "API_KEYS": [],
                          "DATABASE_URL": database, **overrides}, factory=factory)
        engine_of(app).start()
        apps.append(app)
        return app

    yield make
    for app in apps:
        engine_of(app).close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
