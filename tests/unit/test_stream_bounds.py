"""Long-lived streams may never take every request thread."""

import pytest

from waengine.config import ConfigError, load_config


def test_streams_default_to_a_quarter_of_the_threads():
    assert load_config({"ENV": "testing", "THREADS": 8}, environ={})["SSE_MAX_STREAMS"] == 2
    assert load_config({"ENV": "production", "THREADS": 16, "AUTH_DISABLED": True},
                       environ={})["SSE_MAX_STREAMS"] == 4


@pytest.mark.parametrize("streams", [5, 8, 9])
def test_more_streams_than_half_the_threads_is_refused(streams):
    with pytest.raises(ConfigError, match="SSE_MAX_STREAMS .* half of THREADS"):
        load_config({"ENV": "testing", "THREADS": 8, "SSE_MAX_STREAMS": streams}, environ={})
