"""The Python face of the in-page bridge (bridge.js): install, poll state and events, call ops.

Selenium exceptions end here: callers see waengine errors or BrowserGone.
"""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path

from selenium.common.exceptions import JavascriptException, TimeoutException, WebDriverException

from ..errors import BrowserUnavailable, CommandTimeout, WhatsAppError, from_page_error
from . import channel as channels
from .browser import is_browser_gone
from .budget import Budget
from .proxy import NET_ERROR

NET_ERROR_CODE = re.compile(r"ERR_[A-Z0-9_]+")

log = logging.getLogger(__name__)
BRIDGE_JS = Path(__file__).with_name("bridge.js")

# Polls and ops run as Runtime.evaluate (returnByValue) through chromedriver's CDP endpoint, not
# execute_(async_)script: chromedriver 156 keeps every value a script returns alive in the page
# (a RemoteObject it never releases; heap snapshots show them held by "DevTools console"), so each
# poll and each command's JSON stayed in the page for good: ~45 MB/h per session under the soak's
# traffic, 0.0 with Runtime.evaluate (bench/soak.py --bare, docs/performance.md). WebDriver's script
# timeout does not cover Runtime.evaluate, so the page races its own timer: `false` means it fired.
# A renderer that cannot run that timer (frozen, or spinning) is the watchdog's (STUCK_TIMEOUT).
_POLL = """(function (ackIds, ms) {
  var w = window.__waengine;
  if (!w) return null;
  return Promise.race([
    w.poll(ackIds).then(function (s) { return JSON.stringify(s); },
                        function (e) { return JSON.stringify({error: String(e && e.message || e)}); }),
    new Promise(function (resolve) { setTimeout(resolve, ms, false); })]);
})(%s, %d)"""
_RUN = """(function (op, args, ms) {
  var w = window.__waengine;
  if (!w) return JSON.stringify({ok: false, code: 'page_reloading', message: 'page is reloading'});
  return Promise.race([
    w.run(op, args).then(function (r) { return JSON.stringify(r); }),
    new Promise(function (resolve) { setTimeout(resolve, ms, false); })]);
})(%s, %s, %d)"""
# chromedriver's words for a Runtime.evaluate a navigation ended (measured, chromedriver 156)
_NAVIGATED = ("aborted by navigation", "navigated or closed", "context was destroyed")


class BrowserGone(Exception):
    """The browser or chromedriver died; the session must relaunch it."""


class PageUnreachable(Exception):
    """The browser runs but the page did not load: Chromium's net error (ERR_...) and the URL."""

    def __init__(self, error: str, url: str):
        super().__init__(f"{url} did not load: {error}")
        self.error = error
        self.url = url
        # The session's FAILED/RECOVERING reason and details (the factory knows the proxy).
        self.reason = "wa_unreachable"
        self.details = {"error": error, "url": url}


# Chromium's net error page is chrome-error://chromewebdata/ with the code in `.error-code` (a
# load cancelled without one, e.g. a refused proxy password, leaves it empty). A TLS error
# keeps the page's URL and shows an interstitial: its WebUI data (`loadTimeDataRaw`, which no
# web page defines) carries the code, "net::ERR_CERT_AUTHORITY_INVALID". Measured, Chromium 156.
_ERROR_PAGE = """
var data = window.loadTimeDataRaw;
var code = data && typeof data.errorCode === 'string' ? data.errorCode : '';
if (String(location.href).indexOf('chrome-error:') !== 0 && !code) { return null; }
var el = document.querySelector('.error-code');
return ((el && el.textContent) || code || '').trim().replace(/^net::/, '');
"""


@lru_cache(maxsize=4)
def _bundle_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return None


def build_script(config: dict) -> str:
    """The document-start script: WPPConfig, the wa-js bundle as a function (if any), the bridge."""
    bundle = _bundle_text(config["WA_JS"]) if config["WA_JS_INJECT"] == "auto" else None
    settings = {
        "inject": bundle is not None,
        # disableGoogleAnalytics: wa-js otherwise posts events to Google from every session.
        "wppConfig": {"deviceName": config["DEVICE_NAME"], "poweredBy": config["DEVICE_NAME"],
                      "disableGoogleAnalytics": True, "linkPreviewApiServers": [],
                      # wa-js drops other people's status posts unless this is true
                      # (config/WPPConfig.d.ts; the bundle's default is true).
                      "syncAllStatus": bool(config.get("SYNC_ALL_STATUS", False))},
        "undecryptableAfterMs": int(float(config.get("UNDECRYPTABLE_AFTER", 60.0)) * 1000),
    }
    parts = []
    if bundle is not None:
        parts.append("if (window.top === window && !window.__waengineBundle) {\n"
                     "  window.__waengineBundle = function () {\n" + bundle + "\n};\n}\n")
    parts.append(BRIDGE_JS.read_text(encoding="utf-8").replace(
        "__WAENGINE_CONFIG__", json.dumps(settings)))
    return "".join(parts)


class Bridge:
    def __init__(self, driver, config: dict):
        self.driver = driver
        self.config = config
        self.script = build_script(config)
        self._script_timeout: float | None = None

    def _timeout(self, seconds: float) -> None:
        """Set WebDriver's script timeout when it changes (one round trip, rare)."""
        if seconds != self._script_timeout:
            self._guard(self.driver.set_script_timeout, seconds)
            self._script_timeout = seconds

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except TimeoutException:
            raise CommandTimeout() from None
        except JavascriptException as e:
            # e.g. "document unloaded while waiting for result": the page navigated mid-call
            raise BrowserUnavailable("The page reloaded during the call", retry_after=2) from e
        except WebDriverException as e:
            if is_browser_gone(e):
                raise BrowserGone(str(e.msg)) from e
            raise WhatsAppError(f"WebDriver error: {e.msg}") from e
        except Exception as e:
            if is_browser_gone(e):
                raise BrowserGone(str(e)) from e
            raise

    def open(self, url: str) -> None:
        """Register the bridge for every new document, then load WhatsApp Web (or the sandbox)."""
        self._timeout(self.config["COMMAND_TIMEOUT"])
        self._guard(self.driver.execute_cdp_cmd, "Page.addScriptToEvaluateOnNewDocument",
                    {"source": self.script})
        self._guard(self._get, url)
        shown = self._guard(self.driver.execute_script, _ERROR_PAGE)
        if shown is not None:
            error = shown if NET_ERROR_CODE.fullmatch(shown) else "ERR_FAILED"
            raise PageUnreachable(error, url)

    def _get(self, url: str) -> None:
        """Navigate; a network error (chromedriver says `net::ERR_...`) is PageUnreachable.

        chromedriver raises for most net errors but not all (ERR_UNSAFE_PORT loads Chromium's
        error page quietly), hence the error page check in open()."""
        try:
            self.driver.get(url)
        except WebDriverException as e:
            found = NET_ERROR.search(e.msg or "")
            if found is None:
                raise
            raise PageUnreachable(found.group(1), url) from None

    def reload(self) -> None:
        """Load the page again (the registered bridge installs itself in the new document)."""
        self._timeout(self.config["COMMAND_TIMEOUT"])
        self._guard(self.driver.refresh)

    def trim_memory(self, level: str) -> None:
        """A full JS garbage collection, then Chromium's memory-pressure signal at `level`
        (moderate or critical: the renderer drops its caches as under real pressure)."""
        self._timeout(self.config["COMMAND_TIMEOUT"])
        self._guard(self.driver.execute_cdp_cmd, "HeapProfiler.collectGarbage", {})
        self._guard(self.driver.execute_cdp_cmd, "Memory.simulatePressureNotification",
                    {"level": level})

    def reload_if_drained(self) -> bool:
        """Reload the page, keeping the login, if the bridge's event queue is empty (checked in
        the script that schedules the reload); False when events wait for the gateway."""
        return bool(self._evaluate(
            "(function () { var w = window.__waengine;"
            " if (w && w.queue && w.queue.length) return false;"
            " setTimeout(function () { location.reload(); }, 0); return true; })()"))

    def _evaluate(self, expression: str):
        """The value of an expression (a promise is awaited) in the page's main world."""
        reply = self._guard(self._runtime_evaluate, expression)
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = ((details.get("exception") or {}).get("description") or details.get("text")
                    or "error")
            raise WhatsAppError(f"The page's script failed: {text.splitlines()[0]}")
        return (reply.get("result") or {}).get("value")

    def _runtime_evaluate(self, expression: str) -> dict:
        try:
            return self.driver.execute_cdp_cmd("Runtime.evaluate", {
                "expression": expression, "awaitPromise": True, "returnByValue": True})
        except WebDriverException as e:
            if any(words in (e.msg or "") for words in _NAVIGATED):
                raise BrowserUnavailable("The page reloaded during the call", retry_after=2) from e
            raise

    def poll(self, ack_ids: list[str]) -> dict:
        """State of the page plus its queued events; acknowledges the events of the last poll."""
        expression = _POLL % (json.dumps(ack_ids), int(self.config["POLL_TIMEOUT"] * 1000))
        raw = self._evaluate(expression)
        if raw is None:
            # A document that began before the CDP registration: install by hand (idempotent).
            self._guard(self.driver.execute_script, self.script)
            raw = self._evaluate(expression)
        if raw is False:
            raise CommandTimeout()
        state = json.loads(raw) if raw else {}
        if "error" in state:
            log.debug("poll failed in page: %s", state["error"])
        return state

    def open_channel(self, name: str, on_notify) -> channels.Channel:
        """The page's push channel (engine/channel.py); ChannelError when there is none."""
        url = channels.devtools_url(self.driver.capabilities)
        return channels.hub().open(name, url, on_notify)

    def close_channel(self, channel: channels.Channel) -> None:
        channels.hub().close(channel)

    def call(self, op: str, **args):
        """Run an op of bridge.js and return its value; page errors become waengine errors."""
        raw = self._evaluate(_RUN % (json.dumps(op), json.dumps(args),
                                     int(Budget.of(self.config).page * 1000)))
        if raw is False:
            raise CommandTimeout()
        result = json.loads(raw)
        if result.get("ok"):
            return result.get("value")
        code = result.get("code") or "page_error"
        if code in ("wpp_not_ready", "page_reloading"):
            raise BrowserUnavailable("WhatsApp Web is loading", retry_after=2)
        error = from_page_error(code, result.get("message") or code)
        if isinstance(result.get("details"), dict):  # e.g. a refused send's nack (bridge.js)
            error.details = {**(error.details or {}), **result["details"]}
        raise error
