"""Chromium's flags: no security switched off; the sandbox off only where it cannot run (root)."""

from pathlib import Path

import pytest

from waengine.config import load_config
from waengine.engine import flags as chromium_flags

# Each turns off a protection WhatsApp Web does not need turned off (docs/security.md, "Chromium").
FORBIDDEN = ("--disable-web-security", "--ignore-certificate-errors", "--disable-javascript",
             "--allow-running-insecure-content", "--disable-site-isolation-trials",
             "--remote-debugging-address", "--ignore-ssl-errors", "--disable-setuid-sandbox",
             "--single-process")


def flags(monkeypatch, euid, **overrides):
    monkeypatch.setattr(chromium_flags.os, "geteuid", lambda: euid)
    config = load_config({"ENV": "testing", "CHROMIUM": "/nonexistent/chromium", **overrides},
                         environ={})
    return chromium_flags.chrome_options(config, Path("/data/profiles/s1")).arguments


@pytest.mark.parametrize("euid", [0, 1000])
@pytest.mark.parametrize("headless", [True, False])
def test_no_flag_switches_off_web_security_or_certificates(monkeypatch, euid, headless):
    args = flags(monkeypatch, euid, HEADLESS=headless)
    for arg in args:
        assert not arg.startswith(FORBIDDEN), arg


def test_the_sandbox_stays_on_for_a_normal_user(monkeypatch):
    assert "--no-sandbox" not in flags(monkeypatch, 1000)


def test_no_sandbox_only_as_root(monkeypatch):
    assert flags(monkeypatch, 0).count("--no-sandbox") == 1


def test_no_forbidden_flag_is_written_as_a_string_anywhere_in_the_engine():
    engine = Path(chromium_flags.__file__).parent
    for path in engine.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for flag in ("--disable-web-security", "--ignore-certificate-errors"):
            assert f'"{flag}' not in text and f"'{flag}" not in text, (path.name, flag)


def test_each_browser_gets_its_own_profile_and_a_normal_user_agent(monkeypatch):
    args = flags(monkeypatch, 1000)
    assert "--user-data-dir=/data/profiles/s1" in args
    agent = next(a for a in args if a.startswith("--user-agent="))
    assert "HeadlessChrome" not in agent
