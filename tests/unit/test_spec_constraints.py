"""The documented patterns are the checks: whatever matches one is accepted, and the edge
cases JSON Schema and Python read differently (trailing newline, Unicode spaces) agree."""

import base64
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import fields

from waengine.api import schemas
from waengine.errors import ValidationError
from waengine.events import signing

EXAMPLES = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def drawn(pattern: str):
    """Values as a JSON Schema generator draws them: ASCII classes, '$' the end of string."""
    return st.from_regex(re.compile(pattern[:-1] + r"\Z", re.ASCII))


@EXAMPLES
@given(drawn(schemas.RECIPIENT_PATTERN))
def test_every_documented_recipient_is_accepted(value):
    assert schemas.chat_id(value).endswith(("@c.us", "@g.us", "@lid", "@broadcast", "@newsletter"))


@EXAMPLES
@given(drawn(schemas.PERSON_PATTERN))
def test_every_documented_person_is_accepted(value):
    assert schemas.user_id(value, "to").endswith(("@c.us", "@lid"))


@EXAMPLES
@given(drawn(schemas.WEBHOOK_URL_PATTERN))
def test_every_documented_webhook_url_passes_marshmallows_url_check(value):
    assert fields.URL(schemes={"http", "https"}, require_tld=False).deserialize(value) == value


@EXAMPLES
@given(drawn(signing.WHSEC_PATTERN))
def test_every_documented_whsec_secret_is_24_to_64_bytes(value):
    assert signing.secret_problem(value) is None
    assert 24 <= len(base64.b64decode(value[6:])) <= 64


@pytest.mark.parametrize("value", ["\x1c6281234567890", "\u20036281234567890", "0812345",
                                   "+62 - - 812 3456", "62812@c.us\n\x1c", "x@g.us"])
def test_what_the_document_refuses_the_api_refuses(value):
    with pytest.raises(ValidationError):
        schemas.user_id(value, "to")


def test_json_integers_are_numbers_not_spellings(client):
    client.post("/sessions", json={"id": "s1"})
    for cap, status in ((2, 200), (2.0, 200), (1.5, 422), ("2", 422), (True, 422)):
        resp = client.put("/sessions/s1/pacing", json={"dailyCap": cap})
        assert resp.status_code == status, (cap, resp.json)


def test_a_pattern_field_refuses_a_trailing_newline_and_odd_spaces(client):
    for body in ({"to": "\x1c6281234567890", "text": "x"},
                 {"to": "6281234567890", "text": "x", "replyTo": "true_1@c.us_ABCD\n"}):
        resp = client.post("/sessions/nope/messages", json=body)
        assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_error", body
    assert client.post("/sessions/nope/messages/true_1@c.us_ABCD/reaction",
                       json={"emoji": "ok"}).status_code == 422
