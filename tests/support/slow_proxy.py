"""Test helper: an HTTP proxy in front of a real Lizzy agent that can hold a request or its answer.

It lets a test send a real signal to a real deploy at a chosen moment: while the agent deletes
the old stack, after it deleted it but before the deploy knows, while it creates the new one.
``seen`` gets an ``threading.Event`` per (method, phase) as requests pass.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SlowProxy:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        #: (method, "request" | "answer") -> seconds to hold the request before forwarding / the answer after
        self.holds: dict[tuple[str, str], float] = {}
        self.seen: dict[tuple[str, str], threading.Event] = defaultdict(threading.Event)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                method = self.command
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                proxy.seen[(method, "request")].set()
                time.sleep(proxy.holds.get((method, "request"), 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers, method=method)
                try:
                    with urllib.request.urlopen(request, timeout=120) as answer:
                        status, data, kind = answer.status, answer.read(), answer.headers.get("Content-Type", "")
                except urllib.error.HTTPError as err:
                    status, data, kind = err.code, err.read(), err.headers.get("Content-Type", "")
                proxy.seen[(method, "answer")].set()
                time.sleep(proxy.holds.get((method, "answer"), 0))
                self.send_response(status)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _forward

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> SlowProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
