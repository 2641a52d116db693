"""A TCP proxy to PostgreSQL that, when armed, lets a COMMIT through and then cuts the
connection before the server's answer reaches the client: the transaction is durable, the
client never learns it. The failure of a lost acknowledgement, made real."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class CutAfterCommit:
    def __init__(self, target_port: int) -> None:
        self._target = ("127.0.0.1", target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.armed = threading.Event()
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self._target)
            committed = threading.Event()
            threading.Thread(target=self._up, args=(client, server, committed), daemon=True).start()
            threading.Thread(
                target=self._down, args=(server, client, committed), daemon=True
            ).start()

    def _up(self, client: socket.socket, server: socket.socket, committed: threading.Event) -> None:
        """Client to server; a COMMIT while armed marks the connection for cutting."""
        try:
            while data := client.recv(65536):
                if self.armed.is_set() and b"COMMIT" in data.upper():
                    self.armed.clear()
                    committed.set()
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _down(
        self, server: socket.socket, client: socket.socket, committed: threading.Event
    ) -> None:
        """Server to client, until the answer to the marked COMMIT: dropped, both closed."""
        try:
            while data := server.recv(65536):
                if committed.is_set():
                    self.cuts += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@contextmanager
def cut_after_commit(target_port: int) -> Iterator[CutAfterCommit]:
    proxy = CutAfterCommit(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
