"""Configuration: class defaults, then config/<env>.py, then WAENGINE_* environment, then overrides."""

import pytest

from waengine.config import ConfigError, load_config


def test_precedence_defaults_env_file_environment_overrides():
    assert load_config(environ={})["PUMP_INTERVAL"] == 0.25
    assert load_config(environ={"WAENGINE_ENV": "testing"})["PUMP_INTERVAL"] == 0.1
    env = {"WAENGINE_ENV": "testing", "WAENGINE_PUMP_INTERVAL": "0.5",
           "WAENGINE_API_KEYS": "a, b", "WAENGINE_HEADLESS": "yes"}
    config = load_config(environ=env)
    assert config["PUMP_INTERVAL"] == 0.5 and config["API_KEYS"] == ["a", "b"]
    assert config["HEADLESS"] is True
    assert load_config({"PUMP_INTERVAL": 0.7}, environ=env)["PUMP_INTERVAL"] == 0.7


@pytest.mark.parametrize("environ, message", [
    ({"WAENGINE_ENV": "staging"}, "WAENGINE_ENV='staging'"),
    ({"WAENGINE_COMMAND_TIMEOUT": "soon"}, "WAENGINE_COMMAND_TIMEOUT='soon' is not a number"),
    ({"WAENGINE_COMMAND_TIMEOUT": "0"}, "COMMAND_TIMEOUT must be positive"),
    ({"WAENGINE_WA_URL": "web.whatsapp.com"}, "WA_URL must be an http(s) URL"),
    ({"WAENGINE_ENV": "production"}, "production needs WAENGINE_API_KEYS"),
    ({"WAENGINE_WS_SEND_BUFFER": "0"}, "WS_SEND_BUFFER must be at least 1"),
    ({"WAENGINE_WS_PING_INTERVAL": "0"}, "WS_PING_INTERVAL must be positive"),
])
def test_bad_configuration_names_the_setting_in_one_line(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_config(environ=environ)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_production_starts_with_keys_or_with_auth_explicitly_disabled():
    assert load_config(environ={"WAENGINE_ENV": "production", "WAENGINE_API_KEYS": "k" * 24})
    assert load_config(environ={"WAENGINE_ENV": "production", "WAENGINE_AUTH_DISABLED": "1"})
