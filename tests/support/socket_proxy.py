"""Test helper: a unix-socket proxy in front of the Docker engine, a process of its own to kill or stop.

The Docker engine is shared by everyone on the machine, so fault tests never kill it. They give a
private sandbox this proxy as its engine (``DOCKER_HOST``) and kill or stop the proxy instead: to
the pipeline that is exactly an engine that died (connections refused, streams cut) or hung
(connections taken, nothing answered). Run as a process:

    python socket_proxy.py LISTEN_PATH UPSTREAM_PATH [--hold-on REGEX]

It prints ``ready`` once it listens. With ``--hold-on``, the first time the engine's answer on
any connection matches REGEX (e.g. ``Step 5/`` in a build's stream) it relays what came before the
match, stops relaying everything and prints ``held``: the test then kills or stops it, knowing the pipeline is in that phase.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import socket
import sys
import threading

CHUNK = 65536


class Proxy:
    def __init__(self, listen: str, upstream: str, hold_on: str | None):
        self.listen, self.upstream = listen, upstream
        self.pattern = re.compile(hold_on.encode()) if hold_on else None
        self.holding = threading.Event()
        self.announce = threading.Lock()

    def serve(self) -> None:
        if os.path.exists(self.listen):
            os.unlink(self.listen)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.listen)
        server.listen(64)
        print("ready", flush=True)
        while True:
            client, _ = server.accept()
            threading.Thread(target=self.connect, args=(client,), daemon=True).start()

    def connect(self, client: socket.socket) -> None:
        engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            engine.connect(self.upstream)
        except OSError:
            client.close()
            return
        threading.Thread(target=self.relay, args=(client, engine, False), daemon=True).start()
        self.relay(engine, client, True)

    def relay(self, source: socket.socket, sink: socket.socket, answers: bool) -> None:
        tail = b""
        try:
            while True:
                data = source.recv(CHUNK)
                if not data:
                    break
                if answers and self.pattern is not None and not self.holding.is_set():
                    seen = tail + data
                    found = self.pattern.search(seen)
                    if found:  # what came before the match goes through (a build's earlier steps)
                        sink.sendall(data[: max(0, found.start() - len(tail))])
                        self.hold()
                    tail = seen[-256:]
                if self.holding.is_set():
                    threading.Event().wait()  # relay nothing more: the test kills or stops us now
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def hold(self) -> None:
        with self.announce:
            if not self.holding.is_set():
                self.holding.set()
                print("held", flush=True)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("listen")
    parser.add_argument("upstream")
    parser.add_argument("--hold-on")
    options = parser.parse_args(argv)
    Proxy(options.listen, options.upstream, options.hold_on).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
