"""Paths come from configuration: config/<env>.py from CONFIG_DIR, the wa-js bundle and Swagger UI
from ASSETS_DIR; a config file that WAENGINE_ENV names but that is missing stops the start."""

import subprocess
import sys
from pathlib import Path

import pytest

from waengine.config import PROJECT_ROOT, ConfigError, Defaults, assets_dir, load_config


def test_a_checkout_uses_its_own_config_and_node_modules():
    config = load_config(environ={})
    assert config["CONFIG_DIR"] == str(PROJECT_ROOT / "config")
    assert config["ASSETS_DIR"] == str(PROJECT_ROOT / "node_modules")
    assert config["WA_JS"] == str(PROJECT_ROOT / "node_modules/@wppconnect/wa-js/dist/wppconnect-wa.js")
    assert assets_dir({}) == PROJECT_ROOT / "node_modules"


def test_config_dir_names_the_folder_of_env_files(tmp_path):
    (tmp_path / "testing.py").write_text("PUMP_INTERVAL = 0.42\nlowercase_ignored = 1\n")
    config = load_config(environ={"WAENGINE_ENV": "testing", "WAENGINE_CONFIG_DIR": str(tmp_path)})
    assert config["PUMP_INTERVAL"] == 0.42 and "lowercase_ignored" not in config
    assert config["CONFIG_DIR"] == str(tmp_path)


def test_a_missing_env_file_is_a_one_line_error_not_an_empty_config(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"WAENGINE_ENV": "production", "WAENGINE_API_KEYS": "k",
                             "WAENGINE_CONFIG_DIR": str(tmp_path)})
    message = str(caught.value)
    assert "\n" not in message
    assert f"WAENGINE_ENV=production: {tmp_path / 'production.py'} does not exist" in message


def test_assets_dir_moves_the_bundle_unless_wa_js_is_set(tmp_path):
    config = load_config(environ={"WAENGINE_ASSETS_DIR": str(tmp_path)})
    assert config["WA_JS"] == str(tmp_path / "@wppconnect/wa-js/dist/wppconnect-wa.js")
    assert assets_dir({"WAENGINE_ASSETS_DIR": str(tmp_path)}) == tmp_path
    mine = str(tmp_path / "mine.js")
    environ = {"WAENGINE_ASSETS_DIR": str(tmp_path), "WAENGINE_WA_JS": mine}
    assert load_config(environ=environ)["WA_JS"] == mine
    assert Defaults.WA_JS == load_config(environ={})["WA_JS"]


def test_serve_refuses_to_start_without_its_env_file(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "WAENGINE_CONFIG_DIR": str(tmp_path / "nowhere"),
           "WAENGINE_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-m", "waengine", "serve", "--port", "0"], env=env,
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"waengine: WAENGINE_ENV=development: {Path(tmp_path, 'nowhere', 'development.py')} "
        "does not exist (set WAENGINE_CONFIG_DIR to the folder holding config/<env>.py)"]
