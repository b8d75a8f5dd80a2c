"""A non-editable install (`pip install .` into a fresh venv outside the tree) serves and checks
the same config, wa-js bundle and Swagger UI as the checkout, from any working directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import requests

from waengine.config import PROJECT_ROOT, WA_JS_IN_ASSETS

from ..conftest import listening_socket, port_of, wait_for

SWAGGER = ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
           "favicon-32x32.png"]


def outside_env() -> dict:
    """This environment without PYTHONPATH: a PYTHONPATH naming the checkout would make the
    installed package's python import the checkout instead."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The source a release holds (package, config, setup files, the npm assets after `npm ci`),
    installed with pip, not editable; dependencies come from the project's venv via a .pth."""
    assert (PROJECT_ROOT / "node_modules" / WA_JS_IN_ASSETS).is_file(), "node_modules missing: npm ci"
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    ignore = shutil.ignore_patterns("__pycache__")
    for name in ("waengine", "config"):
        shutil.copytree(PROJECT_ROOT / name, src / name, ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md", "gunicorn.conf.py"):
        shutil.copy(PROJECT_ROOT / name, src / name)
    for rel in [WA_JS_IN_ASSETS] + [f"swagger-ui-dist/{n}" for n in SWAGGER]:
        (src / "node_modules" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / "node_modules" / rel, src / "node_modules" / rel)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "zz-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install",
                    "-q", "--no-deps", str(src)], check=True, timeout=600)
    shutil.rmtree(src)  # nothing may still point into the source folder
    return venv


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    out = subprocess.run([str(installed / "bin/python"), "-c",
                          "import waengine.config as c; print(c.__file__, c.CHECKOUT)"],
                         capture_output=True, text=True, cwd=tmp_path, check=True, env=outside_env())
    path, checkout = out.stdout.split()
    assert Path(path).is_relative_to(installed) and checkout == "False"


@pytest.mark.browser  # doctor runs chromium and chromedriver (--version)
def test_doctor_from_another_folder_finds_the_installed_bundle_and_config(installed, tmp_path):
    env = {**outside_env(), "WAENGINE_DATA_DIR": str(tmp_path / "data"), "WAENGINE_ENV": "production",
           "WAENGINE_API_KEYS": "k" * 32, "PATH": f"{installed / 'bin'}:{os.environ['PATH']}"}
    env.pop("WAENGINE_ASSETS_DIR", None)
    out = subprocess.run([str(installed / "bin/waengine"), "doctor"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    share = installed / "share" / "waengine"
    assert f"[ok] wa-js bundle: {share / 'node_modules' / WA_JS_IN_ASSETS}" in out.stdout, out.stdout
    assert "environment: production" in out.stdout and "[ok] gunicorn installed" in out.stdout
    # production.py was found: a missing one would stop doctor at the configuration line.
    assert "[MISSING] configuration" not in out.stdout


def test_gunicorn_from_the_install_serves_the_same_swagger_ui(installed, tmp_path):
    sock = listening_socket()
    port = port_of(sock)
    share = installed / "share" / "waengine"
    env = {**outside_env(), "WAENGINE_DATA_DIR": str(tmp_path / "data"), "WAENGINE_ENV": "testing"}
    with sock:  # gunicorn takes the listening socket (fd://): no one can take the port meanwhile
        proc = subprocess.Popen([str(installed / "bin/python"), "-m", "gunicorn",
                                 "-c", str(share / "gunicorn.conf.py"),
                                 "-b", f"fd://{sock.fileno()}", "waengine:create_app()"],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, pass_fds=[sock.fileno()])
    try:
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return requests.get(url + "/health", timeout=2).status_code == 200
            except requests.RequestException:  # gunicorn still starting behind its socket
                assert proc.poll() is None, proc.stderr.read().decode()
                return False

        wait_for(up, timeout=60, message="gunicorn from the installed package")
        for name in SWAGGER:
            resp = requests.get(f"{url}/docs/assets/{name}", timeout=10)
            assert resp.status_code == 200
            assert resp.content == (PROJECT_ROOT / "node_modules/swagger-ui-dist" / name).read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=90)
