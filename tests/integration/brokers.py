"""Real message brokers for the sink tests, each on free loopback ports in a temp folder:
redis-server, nats-server (JetStream), rabbitmq-server (its own node name and epmd port) and
moto's SQS server. Each can stop and start again on the same port with the same data (the
'broker restarted mid-stream' case), and read back what it holds, oldest first."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from pathlib import Path

import psutil

from ..conftest import wait_for
from .servers import stop_process

PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
        return True
    except OSError:
        return False


def command(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/lib/rabbitmq/bin")
    assert found, f"{name} is not installed: `make test` installs it (Makefile TEST_COMMANDS)"
    return found


class Server:
    """A broker process; start() waits until it takes connections, stop() until it is gone."""

    boot_timeout = 20.0

    def __init__(self, folder: Path):
        self.folder = folder
        self.port = free_port()
        self.started = False
        self.proc: subprocess.Popen | None = None
        self.log = open(folder / "server.log", "ab")  # noqa: SIM115 - closed in close()

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict:
        return dict(os.environ)

    def start(self) -> None:
        """Start on this broker's ports. The first start picks new ports when the broker exits
        because another process took one between choosing it and binding it; a restart keeps
        them (clients reconnect to the same address)."""
        for attempt in range(PORT_ATTEMPTS):
            self.launch()
            try:
                self.wait_ready()
                self.started = True
                return
            except AssertionError:
                if self.started or self.proc.poll() is None or attempt == PORT_ATTEMPTS - 1:
                    raise
                self.pick_ports()

    def pick_ports(self) -> None:
        self.port = free_port()

    def launch(self) -> None:
        self.proc = subprocess.Popen(self.argv(), env=self.env(), stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.folder)

    def wait_ready(self) -> None:
        wait_for(lambda: self.ready(), timeout=self.boot_timeout,
                 message=f"{type(self).__name__} taking connections")

    def ready(self) -> bool:
        assert self.proc.poll() is None, f"{self.argv()[0]} exited: see {self.folder}/server.log"
        return self.listens()

    def listens(self) -> bool:
        """This broker (or a process it started) listens on its port: not some other process
        that took the port first."""
        try:
            tree = [psutil.Process(self.proc.pid)]
            tree += tree[0].children(recursive=True)
            return any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port
                       for p in tree for c in p.net_connections("tcp"))
        except psutil.NoSuchProcess:
            return False

    def stop(self) -> None:
        """A clean stop (SIGTERM): what the broker confirmed is on disk when it comes back."""
        if self.proc is not None:
            stop_process(self.proc, 30)

    def close(self) -> None:
        self.stop()
        self.log.close()


class Redis(Server):
    def argv(self):
        # appendfsync always: an XADD is answered once it is on disk, so a restart keeps it.
        return [command("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "yes", "--appendfsync", "always",
                "--dir", str(self.folder), "--daemonize", "no"]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def read(self, stream: str) -> list[dict]:
        import redis

        client = redis.Redis(port=self.port)
        try:
            return [{k.decode(): v.decode() for k, v in fields.items()}
                    for _, fields in client.xrange(stream)]
        finally:
            client.close()


class Nats(Server):
    def argv(self):
        return [command("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(self.port),
                "-sd", str(self.folder / "js")]

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def read(self, stream: str = "WAENGINE") -> list[dict]:
        """Every message the stream holds: subject, headers, body."""
        import nats

        async def fetch():
            nc = await nats.connect(self.url)
            try:
                js = nc.jetstream()
                state = (await js.stream_info(stream)).state
                out = []
                for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                    msg = await js.get_msg(stream, seq)
                    out.append({"subject": msg.subject, "headers": dict(msg.headers or {}),
                                "body": msg.data.decode()})
                return out
            finally:
                await nc.close()

        return asyncio.run(fetch())


class RabbitMQ(Server):
    boot_timeout = 60.0  # an Erlang node takes 10 to 15 s to boot

    def __init__(self, folder: Path):
        super().__init__(folder)
        self.dist_port, self.epmd_port = free_port(), free_port()
        (folder / "enabled_plugins").write_text("[].\n")  # no plugins: it boots faster

    def pick_ports(self) -> None:
        super().pick_ports()
        self.dist_port, self.epmd_port = free_port(), free_port()

    def argv(self):
        # The server script itself: Debian's /usr/sbin wrapper switches to the rabbitmq user
        # and to /var/lib/rabbitmq, the system node's folder.
        script = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        assert Path(script).exists(), "rabbitmq-server is not installed: `make test` installs it"
        return [script]

    def env(self):
        f = self.folder
        # Its own node name, ports and files: nothing of a system RabbitMQ is read or touched.
        return {**os.environ, "HOME": str(f), "RABBITMQ_NODENAME": f"waetest{self.port}@localhost",
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port), "ERL_EPMD_PORT": str(self.epmd_port),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
                "RABBITMQ_MNESIA_BASE": str(f / "mnesia"), "RABBITMQ_LOG_BASE": str(f / "log"),
                "RABBITMQ_LOGS": "-", "RABBITMQ_ENABLED_PLUGINS_FILE": str(f / "enabled_plugins"),
                "RABBITMQ_CONFIG_FILE": str(f / "rabbitmq"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(f / "advanced.config"),
                "RABBITMQ_CONF_ENV_FILE": str(f / "rabbitmq-env.conf"),
                "RABBITMQ_PID_FILE": str(f / "rabbitmq.pid")}

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def bind(self, queue: str, key: str = "#", exchange: str = "waengine") -> None:
        """A durable queue that takes the exchange's events (what a consumer sets up)."""
        with self.channel() as ch:
            ch.exchange_declare(exchange, "topic", durable=True)
            ch.queue_declare(queue, durable=True)
            ch.queue_bind(queue, exchange, key)

    def read(self, queue: str) -> list[dict]:
        """Take (and ack) every message in the queue: routing key, properties, body."""
        out = []
        with self.channel() as ch:
            while True:
                method, props, body = ch.basic_get(queue)
                if method is None:
                    return out
                out.append({"key": method.routing_key, "id": props.message_id,
                            "type": props.type, "persistent": props.delivery_mode == 2,
                            "headers": props.headers or {}, "body": body.decode()})
                ch.basic_ack(method.delivery_tag)

    def channel(self):
        import contextlib

        import pika

        @contextlib.contextmanager
        def opened():
            conn = pika.BlockingConnection(pika.URLParameters(self.url))
            try:
                yield conn.channel()
            finally:
                conn.close()

        return opened()

    def close(self) -> None:
        super().close()
        # The Erlang port mapper it started on its own port outlives the node: stop it too.
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], capture_output=True,
                       timeout=10, check=False)


class Sqs:
    """moto's server in this process: its queues live in moto's in-process backend, so a stop
    and a start on the same port keep them (an SQS that was unreachable for a while)."""

    def __init__(self):
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.running = False
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.running = True
        wait_for(lambda: listening(self.port), timeout=10, message="moto taking connections")

    def stop(self) -> None:
        if self.running:
            self.server.stop()
            self.running = False

    close = stop

    def client(self):
        import boto3

        return boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def queue(self, name: str) -> str:
        """Create a FIFO queue; its sink URL (keys in the URL, plain http to moto)."""
        attrs = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
        queue_url = self.client().create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
        path = queue_url.split("://", 1)[1].split("/", 1)[1]
        return f"sqs://testing:testing@127.0.0.1:{self.port}/{path}?tls=false&region=us-east-1"

    def read(self, name: str) -> list[dict]:
        """Receive (and delete) every message of the queue, in the order SQS gives them."""
        sqs = self.client()
        queue_url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                      MessageAttributeNames=["All"], AttributeNames=["All"],
                                      WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append({"body": m["Body"], "group": m["Attributes"].get("MessageGroupId"),
                            "headers": {k: v["StringValue"]
                                        for k, v in m.get("MessageAttributes", {}).items()}})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
