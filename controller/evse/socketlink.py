"""The main process's end of a socket to one of its child processes (the control process, the plant), on the
asyncio loop: bytes in are handed to `on_data` as they come, bytes out wait in a buffer until the socket takes
them, so the main process never blocks on a child (and a child never blocks on it)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable


class SocketLink:
    def __init__(self, sock: socket.socket, on_data: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
        self.sock: socket.socket | None = sock
        self._on_data = on_data
        self._on_eof = on_eof
        self._out = bytearray()
        sock.setblocking(False)
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        if self.sock is None:
            return
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self._on_eof()
            return
        self._on_data(data)

    def send(self, data: bytes) -> None:
        if self.sock is None:
            return
        self._out += data
        self._flush()

    def _flush(self) -> None:
        if self.sock is None:
            return
        loop = asyncio.get_running_loop()
        while self._out:
            try:
                n = self.sock.send(self._out)
            except BlockingIOError:
                loop.add_writer(self.sock.fileno(), self._flush)
                return
            except OSError:
                self._out.clear()
                return
            del self._out[:n]
        try:
            loop.remove_writer(self.sock.fileno())
        except (ValueError, RuntimeError):
            pass

    def close(self) -> None:
        if self.sock is None:
            return
        try:
            loop = asyncio.get_running_loop()
            loop.remove_reader(self.sock.fileno())
            loop.remove_writer(self.sock.fileno())
        except (ValueError, RuntimeError):
            pass
        self.sock.close()
        self.sock = None
