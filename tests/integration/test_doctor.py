"""`waengine doctor` with the machine's real chromium and chromedriver: the major-version check,
`--fix` fetching the matching driver through webdriver-manager from a local server that plays
Chrome for Testing, the offline exit code, and the WhatsApp URL reachability check."""

from __future__ import annotations

import http.server
import json
import shutil
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from waengine.cli import EXIT_OFFLINE, _version, main, version_number

from ..conftest import closed_port

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _serve(folder: Path, name: str):
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(folder))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


@pytest.fixture
def web(tmp_path):
    """A plain local HTTP server: stands in for a reachable WA_URL."""
    (tmp_path / "www").mkdir()
    server = _serve(tmp_path / "www", "test-web")
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


@pytest.fixture
def doctor_env(monkeypatch, tmp_path, web):
    monkeypatch.setenv("WAENGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WAENGINE_WA_URL", web)
    monkeypatch.setenv("WAENGINE_CHROMIUM", CHROMIUM)
    return tmp_path


def old_chromedriver(folder: Path) -> Path:
    """What an apt upgrade of chromium alone leaves: a chromedriver one major behind. This box has
    a single driver build, so a script answers --version with the older driver's banner."""
    major = int(version_number(_version([CHROMIUM, "--version"])).split(".")[0]) - 1
    path = folder / "chromedriver"
    path.write_text(f"#!/bin/sh\necho 'ChromeDriver {major}.0.6099.109 (3c9ac5ae-refs/branch-heads/6099)'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_real_chromium_and_chromedriver_match(doctor_env, capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    major = version_number(_version([CHROMIUM, "--version"])).split(".")[0]
    assert f"[ok] chromium {major} and chromedriver {major}: major versions match" in out
    assert "[ok] WhatsApp URL reachable" in out and out.rstrip().endswith("all good")


def test_a_driver_of_another_major_is_reported_with_the_fix(doctor_env, monkeypatch, capsys):
    monkeypatch.setenv("WAENGINE_CHROMEDRIVER", str(old_chromedriver(doctor_env)))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "major versions differ (sessions will not start)" in out
    assert "waengine doctor --fix" in out and "1 problem(s)" in out


@pytest.fixture
def chrome_for_testing(tmp_path):
    """A local server playing Chrome for Testing: known-good-versions-with-downloads.json and a
    chromedriver-linux64.zip holding this machine's real chromedriver."""
    root = tmp_path / "cft"
    version = version_number(_version([CHROMIUM, "--version"]))
    (root / version / "linux64").mkdir(parents=True)
    with zipfile.ZipFile(root / version / "linux64" / "chromedriver-linux64.zip", "w") as z:
        z.write(CHROMEDRIVER, "chromedriver-linux64/chromedriver")
        z.writestr("chromedriver-linux64/LICENSE.chromedriver", "BSD")
    server = _serve(root, "test-cft")
    base = f"http://127.0.0.1:{server.server_port}"
    download = f"{base}/{version}/linux64/chromedriver-linux64.zip"
    (root / "known-good-versions-with-downloads.json").write_text(json.dumps({"versions": [
        {"version": "120.0.6099.109", "downloads": {"chromedriver": [
            {"platform": "linux64", "url": f"{base}/120/chromedriver-linux64.zip"}]}},
        {"version": version, "downloads": {"chromedriver": [
            {"platform": "mac-arm64", "url": f"{base}/{version}/mac-arm64/x.zip"},
            {"platform": "linux64", "url": download}]}},
    ]}))
    yield base
    server.shutdown()


def test_fix_fetches_the_matching_driver_into_the_data_cache(doctor_env, chrome_for_testing,
                                                             monkeypatch, capsys):
    monkeypatch.setenv("WAENGINE_CHROMEDRIVER", str(old_chromedriver(doctor_env)))
    monkeypatch.setenv("WAENGINE_CHROMEDRIVER_MIRROR", chrome_for_testing)
    assert main(["doctor", "--fix"]) == 0
    out = capsys.readouterr().out
    fetched = Path(out.split("use it: WAENGINE_CHROMEDRIVER=")[1].split()[0])
    assert fetched.is_relative_to(doctor_env / "data" / "cache")
    assert version_number(_version([str(fetched), "--version"])) == version_number(
        _version([CHROMEDRIVER, "--version"]))
    assert out.rstrip().endswith("all good")
    # The fetched driver is what the user then runs: doctor agrees with it, offline.
    monkeypatch.setenv("WAENGINE_CHROMEDRIVER", str(fetched))
    with closed_port() as port:
        monkeypatch.setenv("WAENGINE_CHROMEDRIVER_MIRROR", f"http://127.0.0.1:{port}")
        assert main(["doctor", "--fix"]) == 0


def test_fix_offline_says_so_with_its_own_exit_code(doctor_env, monkeypatch, capsys,
                                                    refused_port):
    monkeypatch.setenv("WAENGINE_CHROMEDRIVER", str(old_chromedriver(doctor_env)))
    monkeypatch.setenv("WAENGINE_CHROMEDRIVER_MIRROR", f"http://127.0.0.1:{refused_port}")
    assert main(["doctor", "--fix"]) == EXIT_OFFLINE
    out = capsys.readouterr().out
    assert "could not fetch chromedriver" in out and "internet access" in out
    assert not list((doctor_env / "data").rglob("chromedriver"))


@pytest.mark.parametrize("url, message", [
    ("https://no-such-host.invalid/", "DNS lookup of no-such-host.invalid failed"),
    ("http://127.0.0.1:{closed}/", "TCP connect to 127.0.0.1 (127.0.0.1) port {closed} failed: "
                                   "Connection refused"),
    ("https://127.0.0.1:{web}/", "TLS handshake with 127.0.0.1:{web} failed"),
])
def test_an_unreachable_wa_url_names_the_network_error(doctor_env, web, monkeypatch, capsys,
                                                       refused_port, url, message):
    ports = {"closed": refused_port, "web": web.rsplit(":", 1)[1].strip("/")}
    monkeypatch.setenv("WAENGINE_WA_URL", url.format(**ports))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[MISSING] WhatsApp URL reachable from this host" in out
    assert message.format(**ports) in out
    assert "FAILED wa_unreachable" in out  # the reason such a session ends with
