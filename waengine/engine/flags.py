"""Chromium's command line: every flag waengine passes, each with a measured reason.

Nothing else in waengine knows a Chromium flag (docs/performance.md).
"""

from __future__ import annotations

import os
import re
import subprocess
from functools import lru_cache
from pathlib import Path

from selenium import webdriver

# Without these Chromium keeps dialling Google's hosts, which this LAN (and CI) refuses.
OFFLINE_FLAGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--metrics-recording-only",
)
# Measured: only removing processes saves memory (-16 MB, -7 MB, -2 MB per browser).
LEAN_FLAGS = (
    "--renderer-process-limit=1",
    "--enable-features=NetworkServiceInProcess2",
    "--in-process-gpu",
)
BASE_FLAGS = (
    "--headless=new",
    "--disable-gpu",
    # /dev/shm is small in containers; Chromium then crashes tabs under load.
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--password-store=basic",
    "--window-size=1280,900",
)


@lru_cache(maxsize=4)
def chromium_version(binary: str) -> str:
    """Return Chromium's version, e.g. '156.0.8078.108' ('' when it cannot be run)."""
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"(\d+\.\d+\.\d+\.\d+)", out.stdout)
    return match.group(1) if match else ""


def user_agent(binary: str) -> str:
    """A normal desktop user agent: WhatsApp Web refuses 'HeadlessChrome'."""
    major = (chromium_version(binary) or "130").split(".")[0]
    return (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major}.0.0.0 Safari/537.36")


def chrome_options(config: dict, profile: Path,
                   proxy_server: str | None = None) -> webdriver.ChromeOptions:
    opts = webdriver.ChromeOptions()
    opts.binary_location = config["CHROMIUM"]
    flags = list(OFFLINE_FLAGS + LEAN_FLAGS)
    flags += BASE_FLAGS if config["HEADLESS"] else ()
    # Chromium's sandbox cannot start as root; as a normal user it stays on (docs/deployment.md).
    if os.geteuid() == 0:
        flags.append("--no-sandbox")
    flags += [f"--user-data-dir={profile}", f"--user-agent={user_agent(config['CHROMIUM'])}"]
    if proxy_server:
        # scheme://host:port only: the password is answered over CDP (engine/proxy.py), never
        # put on a command line that `ps` shows. Chromium sends loopback addresses around a
        # proxy unless told otherwise; "all of a session's traffic" includes them.
        flags += [f"--proxy-server={proxy_server}", "--proxy-bypass-list=<-loopback>"]
    for flag in flags:
        opts.add_argument(flag)
    opts.page_load_strategy = "eager"
    opts.set_capability("unhandledPromptBehavior", "accept")
    return opts
