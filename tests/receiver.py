"""A real local HTTP receiver for webhook tests: records requests, answers what it is told."""

from __future__ import annotations

import http.server
import json
import threading


class Receiver:
    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        self.verify = None  # verify(body, headers): raising answers 400 (a verifying receiver)
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                    if receiver.verify and status == 200:
                        try:
                            receiver.verify(body, dict(self.headers))
                        except Exception:
                            status = 400
                    receiver.requests.append({"headers": dict(self.headers), "body": body,
                                              "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._handler = Handler
        self.server = None
        self.port = 0
        self.start()
        self.url = f"http://127.0.0.1:{self.port}/hook"

    def start(self):
        """Listen (again, on the same port after stop(): the 'receiver came back' case)."""
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        """Stop listening: deliveries now get 'connection refused'."""
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[dict]:
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests if 200 <= r["status"] < 300]

    def close(self):
        if self.server:
            self.stop()
            self.server = None
