"""Event sinks: the outbox's events published into a message broker, beside webhooks.

A sink is a URL: `amqp://` (RabbitMQ), `nats://` (JetStream), `redis://` (Redis Streams) or
`sqs://` (Amazon SQS). Each broker has its module here with one `Publisher` class; the broker's
client library is imported when the first publisher of its scheme is made, so a gateway
without sinks loads none of them.

Deliveries of sinks share the outbox's `deliveries` table with webhooks, keyed by the sink's
masked URL (`key()`): the URL with its secrets is kept once, with the sink (session options or
SINKS), and looked up when publishing, as webhook secrets are.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import time
import urllib.parse

from .base import Publisher, SinkError, address_problem, mask

SCHEMES = {"amqp": "amqp", "amqps": "amqp", "nats": "nats", "tls": "nats", "redis": "redis",
           "rediss": "redis", "sqs": "sqs"}
LIBRARIES = {"amqp": "pika", "nats": "nats", "redis": "redis", "sqs": "boto3"}
SINK_URL_SCHEMES = tuple(f"{scheme}://" for scheme in SCHEMES)


def is_sink(url: str) -> bool:
    return url.startswith(SINK_URL_SCHEMES)


def key(url: str) -> str:
    """The sink's name in deliveries, logs and responses: its URL with secrets masked."""
    return mask(url)


def publisher(url: str, timeout: float) -> Publisher:
    """A publisher for the sink URL; its broker library is imported now (ValueError: unknown)."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in SCHEMES:
        raise ValueError(f"not a sink URL: {mask(url)!r}")
    module = importlib.import_module(f"{__name__}.{SCHEMES[scheme]}")
    return module.Publisher(url, timeout)


def parse_config(raw) -> list[dict]:
    """SINKS: a JSON list (or the list itself) of {"url": ..., "events": [...]}."""
    if isinstance(raw, str):
        raw = json.loads(raw) if raw.strip() else []
    if not isinstance(raw, list):
        raise ValueError("SINKS must be a JSON list of {\"url\": ..., \"events\": [...]}")
    sinks = []
    for item in raw:
        if isinstance(item, str):
            item = {"url": item}
        problem = url_problem(item.get("url") if isinstance(item, dict) else None)
        if problem:
            raise ValueError(f"SINKS: {problem}")
        sinks.append({"url": item["url"], "events": list(item.get("events") or [])})
    return sinks


def url_problem(url) -> str | None:
    """Why a sink URL cannot be used (its form, its library, then address_problem), or None."""
    if not isinstance(url, str) or not is_sink(url):
        return f"a sink URL starts with one of {', '.join(SINK_URL_SCHEMES)}"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as e:
        return f"{mask(url)}: {e}"
    if not parts.hostname:
        return f"{mask(url)}: no host"
    if parts.scheme == "sqs" and len([p for p in parts.path.split("/") if p]) != 2:
        return f"{mask(url)}: an SQS sink is sqs://host/account/queue"
    library = LIBRARIES[SCHEMES[parts.scheme]]
    if importlib.util.find_spec(library) is None:  # found without importing it
        return f"{parts.scheme}:// sinks need the {library} package: pip install 'waengine[sinks]'"
    return address_problem(url)


class Health:
    """What /health and /metrics say about one sink: up, and since when it fails."""

    def __init__(self):
        self.failing_since: float | None = None
        self.last_error: str | None = None
        self.published = 0
        self.failed = 0

    def ok(self) -> None:
        self.failing_since, self.last_error = None, None
        self.published += 1

    def fail(self, error: str) -> None:
        self.failing_since = self.failing_since or time.time()
        self.last_error = error


__all__ = ["Health", "Publisher", "SinkError", "address_problem", "is_sink", "key", "mask",
           "parse_config", "publisher", "url_problem"]
