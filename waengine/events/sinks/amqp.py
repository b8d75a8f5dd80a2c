"""RabbitMQ sink: a durable topic exchange (`waengine`, or `?exchange=`), routing key
`<session>.<event type>`, persistent messages, publisher confirms, mandatory routing (an event
no queue is bound to take is not confirmed: it is retried, never dropped).

`amqp://user:password@host:5672/vhost?exchange=...` (`amqps://` for TLS), connected to the
address the publisher checked (base.Publisher.pin). AMQP properties:
message_id = event id, type = event type, timestamp, content_type; headers as webhooks have.
"""

from __future__ import annotations

import logging
import urllib.parse

from .base import Message, SinkError
from .base import Publisher as Base

OWN_PARAMS = ("exchange",)
# pika logs every step of a failed connection at ERROR, a traceback included: with a broker
# down that is a burst per retry. The sink sender logs each failure once, with its reason.
logging.getLogger("pika").setLevel(logging.CRITICAL)


class Publisher(Base):
    def __init__(self, url: str, timeout: float):
        super().__init__(url, timeout)
        self.exchange = self.params.get("exchange") or "waengine"
        query = [(k, v) for k, v in urllib.parse.parse_qsl(self.parts.query) if k not in OWN_PARAMS]
        # pika reads its own options from the query (heartbeat, connection_attempts...).
        query += [("socket_timeout", str(self.timeout)),
                  ("blocked_connection_timeout", str(self.timeout)),
                  ("stack_timeout", str(self.timeout))]
        self.client_url = urllib.parse.urlunsplit(
            self.parts._replace(query=urllib.parse.urlencode(dict(query))))
        self.connection = self.channel = None

    def connect(self) -> None:
        import pika
        from pika.exceptions import AMQPConnectionError

        try:
            self.connection = pika.BlockingConnection(self.parameters())
        except AMQPConnectionError as e:  # its text is often empty: say where it failed
            where = f"{self.parts.hostname}:{self.parts.port or 5672}"
            raise SinkError(f"cannot connect to {where}: {e!r}") from e
        self.channel = self.connection.channel()
        self.channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        self.channel.confirm_delivery()

    def parameters(self) -> list:
        """The URL's connection parameters once per checked address, tried in order: pika
        connects to the address given, not to a new lookup of the name. amqps:// keeps the
        name as the TLS server name, so the certificate is checked against it."""
        import pika

        out = []
        for address in self.addresses:
            params = pika.URLParameters(self.client_url)
            params.host = address[4][0]
            if params.ssl_options is not None:
                params.ssl_options = pika.SSLOptions(
                    params.ssl_options.context,
                    params.ssl_options.server_hostname or self.parts.hostname)
            out.append(params)
        return out

    def send(self, message: Message) -> None:
        import pika
        from pika.exceptions import NackError, UnroutableError

        props = pika.BasicProperties(
            content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
            message_id=message.event_id, type=message.type, timestamp=int(message.timestamp),
            app_id="waengine", headers=message.headers)
        try:
            # With confirms on, this returns once the broker has the message on disk (durable
            # queues), and raises if it refused it or no queue was bound to take it.
            self.channel.basic_publish(self.exchange, f"{message.session}.{message.type}",
                                       message.body, props, mandatory=True)
        except UnroutableError:
            raise SinkError(f"no queue is bound to exchange {self.exchange!r} for "
                            f"{message.session}.{message.type}") from None
        except NackError:
            raise SinkError("the broker refused the message (nack)") from None

    def disconnect(self) -> None:
        connection, self.connection, self.channel = self.connection, None, None
        if connection is not None and connection.is_open:
            connection.close()
