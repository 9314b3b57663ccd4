"""A real MQTT broker for the tests: Debian's mosquitto on a free loopback port with a temporary config, and a
watching client that records what the broker holds.

`make test` installs mosquitto (Makefile `tools`); without it these tests fail, they never skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from hil.rig import free_port

MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path="/usr/bin")
NETWORK_TIMEOUT_S = 10.0  # a bound on waiting for the broker, never a timing assertion


@dataclass
class Broker:
    host: str
    port: int
    conf: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if MOSQUITTO is None:
            pytest.fail("mosquitto is not installed: run `make tools` (apt-get install mosquitto)")
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT)
        for _ in range(int(NETWORK_TIMEOUT_S / 0.02)):  # until it listens (it is up in a few ms)
            if self.proc.poll() is not None:
                pytest.fail(f"mosquitto exited {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 0.2):
                return
            time.sleep(0.02)
        pytest.fail(f"mosquitto does not listen on {self.port}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def make_broker(directory: Path, users: dict[str, str] | None = None,
                tls: tuple[Path, Path, Path] | None = None) -> Broker:
    """A broker config in `directory` (anonymous, or only `users` with their passwords; over TLS with
    `tls` = (CA file, certificate file, key file))."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = [f"listener {port} 127.0.0.1", "persistence false", f"user {getpass.getuser()}", "log_type all"]
    if users:
        pw = directory / "passwd"
        pw.write_text("")
        for user, password in users.items():
            subprocess.run([str(MOSQUITTO_PASSWD), "-b", str(pw), user, password], check=True, capture_output=True)
        lines += ["allow_anonymous false", f"password_file {pw}"]
    else:
        lines += ["allow_anonymous true"]
    if tls:
        lines += [f"cafile {tls[0]}", f"certfile {tls[1]}", f"keyfile {tls[2]}"]
    conf = directory / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return Broker("127.0.0.1", port, conf, directory / "mosquitto.log")


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    b = make_broker(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@dataclass
class Watcher:
    """A client subscribed to everything: the last payload and retain flag per topic, and every message."""

    client: aiomqtt.Client
    last: dict[str, str] = field(default_factory=dict)
    seen: list[tuple[str, str, bool]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def pump(self) -> None:
        async for m in self.client.messages:
            text = m.payload.decode(errors="replace") if isinstance(m.payload, bytes) else str(m.payload)
            async with self.changed:
                self.last[m.topic.value] = text
                self.seen.append((m.topic.value, text, bool(m.retain)))
                self.changed.notify_all()

    async def wait(self, pred: Callable[[], bool], what: str) -> None:
        async with self.changed:
            try:
                async with asyncio.timeout(NETWORK_TIMEOUT_S):
                    await self.changed.wait_for(pred)
            except TimeoutError:
                raise AssertionError(f"broker never showed {what}; last: {json.dumps(self.last)[:3000]}") from None

    async def value(self, topic: str, expected: str | None = None) -> str:
        await self.wait(lambda: topic in self.last and (expected is None or self.last[topic] == expected),
                        f"{topic} = {expected}")
        return self.last[topic]

    async def send(self, topic: str, payload: str, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)


@contextlib.asynccontextmanager
async def watching(b: Broker, topic: str = "#") -> AsyncIterator[Watcher]:
    async with aiomqtt.Client(b.host, b.port, identifier=f"watcher-{free_port()}") as client:
        w = Watcher(client)
        await client.subscribe(topic, qos=1)
        task = asyncio.ensure_future(w.pump())
        try:
            yield w
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await task
