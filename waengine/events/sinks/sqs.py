"""Amazon SQS sink: SendMessage to the queue; for a FIFO queue (`.fifo`) MessageGroupId is the
session (in order per session) and MessageDeduplicationId the event id (SQS drops a republished
event within its 5-minute window). Identity headers go in as message attributes.

`sqs://[access-key:secret-key@]host[:port]/account/queue[?region=...&tls=false]`: the queue
URL is https://host/account/queue (http with tls=false, e.g. a local SQS-compatible server);
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
