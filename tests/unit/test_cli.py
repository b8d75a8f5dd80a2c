"""The command line: doctor reports what is missing and how to fix it."""

import subprocess
import sys

from waengine.cli import main


def test_doctor_reports_a_missing_chromedriver_with_the_fix(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WAENGINE_CHROMEDRIVER", str(tmp_path / "no-such-chromedriver"))
    monkeypatch.setenv("WAENGINE_DATA_DIR", str(tmp_path / "data"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[MISSING] chromedriver" in out and "apt-get install chromium-driver" in out
    assert "[ok] data folder writable" in out


def test_python_dash_m_waengine_shows_the_commands():
    out = subprocess.run([sys.executable, "-m", "waengine", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    for command in ("serve", "sandbox", "doctor"):
        assert command in out.stdout
