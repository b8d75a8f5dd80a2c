"""Amazon SQS sink: SendMessage to the queue; for a FIFO queue (`.fifo`) MessageGroupId is the
session (in order per session) and MessageDeduplicationId the event id (SQS drops a republished
event within its 5-minute window). Identity headers go in as message attributes.

`sqs://[access-key:secret-key@]host[:port]/account/queue[?region=...&tls=false]`: the queue
URL is https://host/account/queue (http with tls=false, e.g. a local SQS-compatible server),
connected to the address the publisher checked (base.Publisher.pin);
without keys in the URL boto3 finds credentials as usual (environment, role, ...).
"""

from __future__ import annotations

import re
import urllib.parse

from .base import Message, SinkError
from .base import Publisher as Base


class Publisher(Base):
    def __init__(self, url: str, timeout: float):
        super().__init__(url, timeout)
        parts = self.parts
        tls = self.params.get("tls", "true").lower() not in ("false", "0", "no")
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        self.endpoint = f"{'https' if tls else 'http'}://{host}"
        self.queue_url = self.endpoint + parts.path
        found = re.match(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com", parts.hostname or "")
        self.region = self.params.get("region") or (found.group(1) if found else "us-east-1")
        self.fifo = parts.path.endswith(".fifo")
        self.client = None

    def connect(self) -> None:
        import boto3
        from botocore.config import Config

        keys = {}
        if self.parts.username:
            keys = {"aws_access_key_id": urllib.parse.unquote(self.parts.username),
                    "aws_secret_access_key": urllib.parse.unquote(self.parts.password or "")}
        # One attempt per publish: the delivery's backoff retries, and says why it failed.
        config = Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                        retries={"max_attempts": 1, "mode": "standard"})
        self.client = boto3.session.Session().client(
            "sqs", region_name=self.region, endpoint_url=self.endpoint, config=config, **keys)
        # botocore opens its sockets through urllib3 pools; it has no setting for the address
        # to connect to, so its session's pool classes are swapped for pinned ones (the same
        # classes with _new_conn connecting to the checked addresses). A botocore that moved
        # these attributes fails the rebinding test (tests/unit/test_sink_pinning.py).
        http = self.client._endpoint.http_session
        http._pool_classes_by_scheme = pinned_pools(self)
        http._manager.pool_classes_by_scheme = http._pool_classes_by_scheme

    def send(self, message: Message) -> None:
        args = {"QueueUrl": self.queue_url, "MessageBody": message.body.decode(),
                "MessageAttributes": {name: {"DataType": "String", "StringValue": value}
                                      for name, value in message.headers.items()}}
        if self.fifo:
            args["MessageGroupId"] = message.session
            args["MessageDeduplicationId"] = message.event_id
        answer = self.client.send_message(**args)
        if not answer.get("MessageId"):
            raise SinkError("SendMessage answered without a MessageId")

    def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()


def pinned_pools(publisher: Publisher) -> dict:
    """botocore's urllib3 pool classes, with connections to the sink's host opened to the
    publisher's checked addresses. `host` stays the name: the Host header, the signature,
    the TLS server name and the certificate check all use it. A connection to a proxy
    (another host, or a tunnel) is left as botocore makes it."""
    from botocore.awsrequest import (
        AWSHTTPConnection,
        AWSHTTPConnectionPool,
        AWSHTTPSConnection,
        AWSHTTPSConnectionPool,
    )
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    name = (publisher.parts.hostname or "").rstrip(".")

    class Pinned:
        def _new_conn(self):
            if self.host.rstrip(".").lower() != name or getattr(self, "_tunnel_host", None):
                return super()._new_conn()
            timeout = self.timeout if isinstance(self.timeout, int | float) else None

            def prepare(sock):
                for option in self.socket_options or ():
                    sock.setsockopt(*option)

            try:
                return publisher.open_socket(timeout, prepare)
            except TimeoutError as e:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out. "
                                                f"(connect timeout={timeout})") from e
            except OSError as e:
                raise NewConnectionError(self, f"Failed to establish a new connection: {e}") \
                    from e

    http = type("PinnedHTTPConnection", (Pinned, AWSHTTPConnection), {})
    https = type("PinnedHTTPSConnection", (Pinned, AWSHTTPSConnection), {})
    return {"http": type("PinnedHTTPPool", (AWSHTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("PinnedHTTPSPool", (AWSHTTPSConnectionPool,), {"ConnectionCls": https})}
