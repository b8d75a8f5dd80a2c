"""The operator's browser: real Chromium (Selenium) on the dashboard, clicking and reading as a
person does, with screenshots. tests/integration/test_dashboard.py drives one against a
gateway of its own; test_cluster_nodes.py against the nodes of a cluster behind nginx."""

from __future__ import annotations

import os
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from waengine.config import Defaults

from ..conftest import wait_for

CHROME_FLAGS = ("--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage "
                "--disable-background-networking --disable-component-update --disable-sync "
                "--no-first-run --disable-quic").split()
LAPTOP, PHONE = (1280, 800), (390, 844)
# WAENGINE_SCREENSHOTS=docs/img saves the screenshots the docs show.
SHOTS = os.environ.get("WAENGINE_SCREENSHOTS")


class Operator:
    """A Chromium on the dashboard at `url` (the gateway's, or nginx's in front of it), its
    profile and driver log under `root`. Screenshots go to WAENGINE_SCREENSHOTS if set, else to
    `shots` if given, else nowhere."""

    def __init__(self, url: str, root: Path, shots: Path | None = None):
        self.url = url
        self.shots = Path(SHOTS) if SHOTS else shots
        options = webdriver.ChromeOptions()
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={root / 'operator-profile'}")
        options.add_argument(f"--window-size={LAPTOP[0]},{LAPTOP[1]}")
        options.binary_location = Defaults.CHROMIUM
        service = Service(Defaults.CHROMEDRIVER, log_output=str(root / "operator-driver.log"))
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.implicitly_wait(0)
        self.viewport(LAPTOP)

    def quit(self) -> None:
        self.driver.quit()

    def find(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        try:
            return self.find(css).text
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def shown(self, css: str) -> bool:
        try:
            return self.find(css).is_displayed()
        except (NoSuchElementException, StaleElementReferenceException):
            return False

    def wait_text(self, css: str, needle: str, timeout: float = 30.0) -> str:
        return wait_for(lambda: needle in (t := self.text(css)) and t, timeout=timeout,
                        message=f"{needle!r} in {css} (now {self.text(css)!r})")

    def click(self, css: str) -> None:
        """Click the element, as a person does: the table and panels re-render as data
        arrives, and a click lands on the element shown then, not on one just replaced."""
        def clicked():
            try:
                self.find(css).click()
                return True
            except StaleElementReferenceException:
                return False
        wait_for(clicked, message=f"{css} clicked")

    def type(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def sign_in(self, key: str) -> None:
        self.driver.get(self.url + "/dashboard")
        wait_for(lambda: self.shown("#login") or self.shown("#view-sessions"), message="page")
        if self.shown("#signout"):
            self.click("#signout")
        self.type("#login-key", key)
        self.find("#login-key").send_keys(Keys.ENTER)
        wait_for(lambda: self.shown("#view-sessions"), message="sessions view")

    def row(self, sid: str) -> str:
        return self.text(f'#sessions-body tr[data-id="{sid}"]')

    def shot(self, name: str, size=LAPTOP) -> Path | None:
        if not self.shots:
            return None
        self.viewport(size)
        # Let the layout settle at the new width before the capture (two frames).
        self.driver.execute_async_script("requestAnimationFrame(() => requestAnimationFrame("
                                         "arguments[arguments.length - 1]))")
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        self.viewport(LAPTOP)
        return path

    def viewport(self, size) -> None:
        """The page's exact size (a phone's is a mobile viewport), whatever the window is."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1,
            "mobile": size == PHONE})
