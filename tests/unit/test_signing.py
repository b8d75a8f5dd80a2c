"""Webhook signatures: Standard Webhooks (checked with the maintained PyPI verifier) and legacy."""

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from waengine.events import signing

from ..conftest import BACKENDS

BODY = b'{"id":"evt_1","type":"message"}'


def signed(secret, timestamp=None, msg_id="evt_1"):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return signing.headers(msg_id, "message", ts, BODY, secret)


def test_a_generated_secret_is_whsec_base64_of_32_random_bytes():
    first, second = signing.generate_secret(), signing.generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first[6:])) == 32 and signing.secret_problem(first) is None


def test_the_pypi_library_verifies_a_whsec_secret_delivery():
    secret = signing.generate_secret()
    headers = signed(secret)
    assert headers["webhook-id"] == "evt_1" and headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {"id": "evt_1", "type": "message"}


def test_a_plain_secret_verifies_as_whsec_of_its_utf8_bytes():
    headers = signed("topsecret")
    as_whsec = "whsec_" + base64.b64encode(b"topsecret").decode()
    assert Webhook(as_whsec).verify(BODY, headers)


def test_a_tampered_body_and_a_stale_timestamp_are_rejected_by_the_library():
    secret = signing.generate_secret()
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook(secret).verify(BODY.replace(b"message", b"massage"), signed(secret))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(BODY, signed(secret, timestamp=int(time.time()) - 600))


def test_the_legacy_signature_uses_the_same_key_bytes():
    secret = "whsec_" + base64.b64encode(b"k" * 24).decode()
    headers = signed(secret, timestamp=1700000000)
    expected = hmac.new(b"k" * 24, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert headers["X-WAEngine-Signature"] == "sha256=" + expected
    plain = signed("s3cret", timestamp=1700000000)["X-WAEngine-Signature"]
    assert plain == "sha256=" + hmac.new(b"s3cret", b"1700000000." + BODY,
                                         hashlib.sha256).hexdigest()


def test_without_a_secret_deliveries_carry_ids_but_no_signature():
    headers = signed(None)
    assert headers["webhook-id"] == "evt_1" and "webhook-timestamp" in headers
    assert "webhook-signature" not in headers and "X-WAEngine-Signature" not in headers


@pytest.mark.parametrize("secret, problem", [
    ("whsec_not base64!", "base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
    ("plain strings of 24 bytes are fine", None),
    ("a short plain secret", "at least 24 bytes"),
])
def test_unusable_whsec_secrets_are_named(secret, problem):
    found = signing.secret_problem(secret)
    assert (found is None) if problem is None else (problem in found)


def test_put_webhook_generates_a_secret_shown_once_and_refuses_bad_ones(client):
    assert client.post("/sessions", json={"id": "s1"}).status_code == 201
    put = client.put("/sessions/s1/webhook", json={"url": "http://127.0.0.1:9/h",
                                                   "generateSecret": True})
    assert put.status_code == 200 and signing.secret_problem(put.json["secret"]) is None
    assert put.json["secret"].startswith("whsec_") and put.json["hasSecret"] is True
    assert "secret" not in client.get("/sessions/s1/webhook").json
    mine = client.put("/sessions/s1/webhook", json={"url": "http://127.0.0.1:9/h",
                                                    "secret": "k" * 24})
    assert mine.status_code == 200 and "secret" not in mine.json  # never echoed back
    for body, field in (({"secret": "whsec_short"}, "secret"),
                        ({"secret": "k" * 23}, "secret"),  # guessable offline from one delivery
                        ({"secret": "k" * 24, "generateSecret": True}, "_schema"),
                        ({"generateSecret": "yes"}, "generateSecret")):
        bad = client.put("/sessions/s1/webhook", json={"url": "http://127.0.0.1:9/h", **body})
        assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_error"
        assert field in str(bad.json["error"]["details"]), bad.json


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_a_retried_delivery_keeps_its_webhook_id_and_is_signed_anew(store):
    from waengine.events.outbox import EventOutbox
    from waengine.events.webhooks import WebhookSender

    from ..receiver import Receiver

    receiver = Receiver()
    try:
        secret = signing.generate_secret()
        receiver.statuses = [503]
        outbox = EventOutbox(store)
        event = outbox.add("s1", "qr", {"qr": "x"}, None, [{"url": receiver.url, "secret": secret}])
        sender = WebhookSender(outbox, {"WEBHOOK_TIMEOUT": 2.0, "WEBHOOK_RETRY_BASE": 0.0,
                                        "WEBHOOK_RETRY_MAX_DELAY": 0.0,
                                        "WEBHOOK_RETRY_HORIZON": 60.0,
                                        "WEBHOOK_ALLOW_PRIVATE": True})  # a loopback receiver
        sender.secret_for = lambda session, url: secret  # kept with the hook, not per row
        sender.run_once()
        sender.run_once()
        first, second = receiver.requests
        assert first["status"] == 503 and second["status"] == 200
        for req in (first, second):
            headers = {k.lower(): v for k, v in req["headers"].items()}
            assert headers["webhook-id"] == event["id"]
            assert Webhook(secret).verify(req["body"], headers)["id"] == event["id"]
    finally:
        receiver.close()
