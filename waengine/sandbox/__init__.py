"""The bundled WhatsApp Web simulator ("sandbox").

A small web app serving a WhatsApp-Web-like page whose `window.WPP` implements the
subset of @wppconnect/wa-js 4.6.0 that waengine uses, over a simulated network of
phones (see network.py). `waengine sandbox --port P` runs it; tests use make_server().
"""

from __future__ import annotations

import argparse
import logging
import threading

from flask import Flask
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from .app import build_app
from .network import OPTION_NAMES, Network, Options
from .weight import WEIGHTS

__all__ = ["add_arguments", "create_app", "make_server", "serve"]


def _network(options: dict) -> Network:
    unknown = set(options) - set(OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown sandbox option(s): {', '.join(sorted(unknown))}")
    if options.get("page_weight", "light") not in WEIGHTS:
        raise ValueError(f"page_weight is one of {', '.join(WEIGHTS)}")
    return Network(Options(**options))


def create_app(**options) -> Flask:
    """Return the sandbox Flask app with a fresh network (options: see Options)."""
    return build_app(_network(options))


class _QuietHandler(WSGIRequestHandler):
    """Logs requests except the page's long-polls, which would drown everything else."""

    def log_request(self, code="-", size="-"):
        if "/_sandbox/api/" not in self.path:
            super().log_request(code, size)


class SandboxServer(ThreadedWSGIServer):
    """A threaded werkzeug server that also wakes the network's long-polls on shutdown."""

    def __init__(self, host: str, port: int, app: Flask):
        super().__init__(host, port, app, handler=_QuietHandler)
        self.app = app
        self.network: Network = app.extensions["sandbox_network"]
        self._serving = False

    def process_request_thread(self, request, client_address) -> None:
        # socketserver starts each request's thread unnamed; name it so a stack dump reads.
        threading.current_thread().name = f"sandbox-http-{client_address[1]}"
        super().process_request_thread(request, client_address)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        self._serving = True
        super().serve_forever(poll_interval)

    def shutdown(self) -> None:
        """Stop serving (if serving), wake the long-polls, close the socket."""
        self.network.close()
        if self._serving:
            super().shutdown()
        self.server_close()


def make_server(host: str = "127.0.0.1", port: int = 0, **options) -> SandboxServer:
    """Return a threaded server (not yet serving): call .serve_forever() in a thread."""
    return SandboxServer(host, port, create_app(**options))


def serve(host: str = "127.0.0.1", port: int = 8480, **options) -> None:
    """Serve the sandbox until interrupted."""
    server = make_server(host, port, **options)
    logging.getLogger(__name__).info(
        "sandbox: serving on http://%s:%s/", host, server.server_port
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's option flags (dest names equal the option names)."""
    defaults = Options()
    group = parser.add_argument_group("sandbox")
    group.add_argument("--qr-first-ttl", type=float, default=defaults.qr_first_ttl,
                       help="seconds the first QR ref lives (default %(default)s)")
    group.add_argument("--qr-ttl", type=float, default=defaults.qr_ttl,
                       help="seconds each later QR ref lives (default %(default)s)")
    group.add_argument("--qr-max", type=int, default=defaults.qr_max,
                       help="QR refs shown before the QR goes idle (default %(default)s)")
    group.add_argument("--link-code-ttl", type=float, default=defaults.link_code_ttl,
                       help="seconds a pairing code is valid (default %(default)s)")
    group.add_argument("--ack-delivered-delay", type=float,
                       default=defaults.ack_delivered_delay,
                       help="seconds until every peer phone acks delivery by itself; <0 (the "
                       "default) only when told (POST /_sandbox/phones/{phone}/deliver)")
    group.add_argument("--ack-read-delay", type=float, default=defaults.ack_read_delay,
                       help="seconds until every peer phone acks reading by itself; <0 (the "
                       "default) only when told (POST /_sandbox/phones/{phone}/read)")
    group.add_argument("--history-delay", type=float, default=defaults.history_delay,
                       help="seconds a page waits for a chat's messages (default %(default)s)")
    group.add_argument("--no-reload-after-scan", dest="reload_after_scan",
                       action="store_false", default=defaults.reload_after_scan,
                       help="do not reload the page after a QR scan")
    group.add_argument("--seed-contacts", type=int, default=defaults.seed_contacts,
                       help="generated contacts for every new phone")
    group.add_argument("--seed-groups", type=int, default=defaults.seed_groups,
                       help="generated groups for every new phone")
    group.add_argument("--page-weight", choices=WEIGHTS, default=defaults.page_weight,
                       help="what the page costs a browser: light (tests) or field (as "
                       "WhatsApp Web: docs/sandbox.md, Page weight) (default %(default)s)")
    group.add_argument("--seed", type=int, default=defaults.seed,
                       help="seed of the generated contacts and groups")
