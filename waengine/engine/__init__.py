"""The engine: store, chromedriver and sessions. Built by create_app, started by a server hook."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from ..events import EventHub
from ..store import Store
from . import browser as chromium
from .manager import ChromiumFactory, SessionManager

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, config: dict, factory=None):
        self.config = config
        self.data_dir = Path(config["DATA_DIR"]).resolve()
        self.profiles = self.data_dir / "profiles"
        self.store = Store(self.data_dir / "waengine.db")
        self.service = chromium.ChromeDriverService(config)
        factory = factory or ChromiumFactory(config, self.service, self.profiles)
        self.events = EventHub(self.store, config)
        self.manager = SessionManager(config, self.store, factory, self.profiles,
                                      on_event=self.events.publish)
        self.manager.load()
        self.started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Reap browsers a dead process left behind, then restore the sessions that were running."""
        with self._lock:
            if self.started:
                return
            self.started = True
            self.profiles.mkdir(parents=True, exist_ok=True)
            chromium.sweep(self.profiles)
            self.events.start()
            restored = self.manager.restore()
            log.info("engine started; restoring %d session(s)", restored)

    def stop(self) -> None:
        with self._lock:
            if not self.started:
                return
            self.started = False
        self.manager.shutdown()
        self.service.stop()
        self.events.stop()
        log.info("engine stopped")

    def close(self) -> None:
        self.stop()
        self.store.close()
