"""The MQTT connection (aiomqtt): availability with a last will, discovery, state, commands; reconnects.

On each connection: the subscription to the command topics, `online` (retained) on the availability topic,
whose last will is `offline` (retained: the broker says it when the station dies or its link does), the Home
Assistant discovery configs (retained); then changed state is published every `interval_s` (and at once
after a command). A lost connection is traced (without the password) and retried after a backoff on the
injected clock (1 s doubling to 60 s). Commands' setpoints run out on the injected clock whether the broker is
there or not: `run` re-publishes the limits when one expires.

`run` is a supervised task; with [mqtt] disabled (or unusable: the trace says why) it idles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiomqtt

from controller.clock import Clock
from controller.mqtt.commands import RemoteCommands
from controller.mqtt.discovery import Identification, discovery_configs
from controller.mqtt.report import SessionEnergy, socket_values
from controller.mqtt.settings import MqttSettings
from controller.mqtt.topics import OFFLINE, ONLINE, Topics, node_id
from controller.ports import SocketsView, Trace

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 1.0
BACKOFF_MAX_S = 60.0
CONNECT_TIMEOUT_S = 10.0  # aiomqtt's own timeout for each broker round trip


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # a loser's error after it was cancelled: already beside the point


async def _first(*waits: Awaitable[Any]) -> None:
    """Run `waits` until the first of them ends; cancel the others (not waited for: one stuck in a library
    must not hold us). The first's error is raised; a first one that was cancelled by someone else is an error
    too (RuntimeError), never a silent end. Used instead of a TaskGroup, whose parent-task cancellation leaves
    a task's cancel count raised on Python 3.11 when a child fails (seen: a later `cancelling()` check)."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
            t.add_done_callback(_retrieve)
    for t in done:
        if t.cancelled():
            raise RuntimeError(f"{t.get_name()} was cancelled from outside")
        t.result()


class MqttBridge:
    def __init__(
        self,
        settings: MqttSettings | None,
        clock: Clock,
        commands: RemoteCommands,
        sockets: SocketsView,
        sessions: Callable[[int], SessionEnergy | None],
        ocpp_status: Callable[[int], str],
        identification: Callable[[], Identification],
        limits_changed: Callable[[], None],
        trace: Trace,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.commands = commands
        self._sockets = sockets
        self._sessions = sessions
        self._ocpp_status = ocpp_status
        self._identification = identification
        self._limits_changed = limits_changed
        self._trace = trace
        self.connected = False
        self.connects = 0
        self.backoff_s = BACKOFF_INITIAL_S
        self._client: aiomqtt.Client | None = None
        self._sent: dict[str, str] = {}  # topic -> payload last published on this connection
        self._dirty = asyncio.Event()  # publish now (a command changed something)
        self._commanded = asyncio.Event()  # a setpoint changed: look at its expiry again
        self._stopping = False

    @property
    def enabled(self) -> bool:
        return self.settings is not None and self.settings.enabled

    def topics(self) -> Topics:
        s = self.settings or MqttSettings()
        return Topics(s.topic_prefix, s.discovery_prefix, node_id(self._identification().identity))

    # -- the supervised task ------------------------------------------------------------------------------------
    async def run(self) -> None:
        if not self.enabled:
            await asyncio.Event().wait()  # nothing to do, for ever (a return would read as a failure)
        # both run for ever: whichever ends (an error, or a stray cancellation) ends the task; the supervisor
        # logs it and starts it again
        await _first(self._expiries(), self._connection())
        if not self._stopping:
            raise RuntimeError("an MQTT bridge task returned")

    async def stop(self) -> None:
        """Say `offline` before a clean shutdown (the will covers every other end), and end: the loops end by
        themselves, since Python 3.11's asyncio.wait_for (inside aiomqtt's publish) loses a cancellation that
        arrives together with the broker's acknowledgement (fixed in 3.12), which left a stopping station
        waiting for ever on the task."""
        client = self._client
        if client is not None and self.connected:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await self._publish(client, self.topics().availability, OFFLINE)
        self._stopping = True
        self._dirty.set()

    async def _publish(self, client: aiomqtt.Client, topic: str, payload: str) -> None:
        await client.publish(topic, payload, qos=1, retain=True)

    async def _connection(self) -> None:
        while not self._stopping:
            try:
                await self._session()
            except (aiomqtt.MqttError, OSError) as exc:
                s = self.settings or MqttSettings()
                why = s.mask(str(exc) or type(exc).__name__)
                was = "lost" if self.connected else "failed"
                log.warning("MQTT broker %s:%s: connection %s: %s", s.host, s.port, was, why)
                self._trace(f"MQTT connection {was} ({s.host}:{s.port}): {why}; retry in {self.backoff_s:g} s")
            finally:
                self.connected, self._client = False, None
            if self._stopping:
                return
            await self.clock.sleep(self.backoff_s)
            self.backoff_s = min(self.backoff_s * 2, BACKOFF_MAX_S)

    async def _session(self) -> None:
        s = self.settings or MqttSettings()
        topics = self.topics()
        client = aiomqtt.Client(
            s.host, s.port, username=s.username, password=s.password,
            identifier=s.client_id or f"chargepoint-{topics.node}",
            will=aiomqtt.Will(topics.availability, OFFLINE, qos=1, retain=True),
            keepalive=s.keepalive_s, tls_context=s.tls_context(), timeout=CONNECT_TIMEOUT_S,
        )
        async with client:
            self._client = client
            self._sent.clear()
            await client.subscribe(topics.commands, qos=1)  # first: a command sent once we say online is heard
            await self._publish(client, topics.availability, ONLINE)
            for topic, payload in discovery_configs(topics, self._identification(), self.commands.ratings).items():
                await self._publish(client, topic, payload)
            self.connected, self.backoff_s = True, BACKOFF_INITIAL_S
            self.connects += 1
            self._trace(f"MQTT connected to {s.host}:{s.port} as {topics.base}")
            await _first(self._listen(client, topics), self._publish_loop(client, topics))
            if not self._stopping:
                raise aiomqtt.MqttError("the connection's tasks ended")

    # -- state ----------------------------------------------------------------------------------------------------
    def values(self) -> dict[int, dict[str, str]]:
        """What each socket's topics should say now."""
        now = self.clock.monotonic()
        return {
            cid: socket_values(self._sockets[cid], self._ocpp_status(cid), self._sessions(cid),
                               self.commands.in_force(cid, now), self.commands.paused(cid, now))
            for cid in self._sockets
        }

    async def _publish_loop(self, client: aiomqtt.Client, topics: Topics) -> None:
        interval = (self.settings or MqttSettings()).interval_s
        while not self._stopping:
            self._dirty.clear()
            await self._publish_changes(client, topics, self.values())
            await _first(self.clock.sleep(interval), self._dirty.wait())

    async def _publish_changes(self, client: aiomqtt.Client, topics: Topics,
                               values: Mapping[int, Mapping[str, str]]) -> None:
        for cid, named in values.items():
            for name, text in named.items():
                topic = topics.state(cid, name)
                if self._sent.get(topic) != text:
                    await self._publish(client, topic, text)
                    self._sent[topic] = text

    # -- commands -------------------------------------------------------------------------------------------------
    async def _listen(self, client: aiomqtt.Client, topics: Topics) -> None:
        async for message in client.messages:
            where = topics.parse_command(message.topic.value)
            if where is None:
                continue
            cid, name = where
            raw = message.payload
            try:
                payload = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else str(raw or "")
            except UnicodeDecodeError:
                payload = "<not UTF-8>"
            verdict = self.commands.command(cid, name, payload, self.clock.monotonic(), bool(message.retain))
            word = "accepted" if verdict.accepted else "refused"
            self._trace(f"MQTT command {name}={verdict.payload!r} for socket {cid} {word}: {verdict.reason}")
            if verdict.accepted:
                self._limits_changed()
                self._commanded.set()
            if cid in self._sockets:
                await self._publish(client, topics.state(cid, "command_result"), verdict.as_json())
            self._dirty.set()

    async def _expiries(self) -> None:
        """Publish the limits again when a command's setpoint runs out (Safe-MaxCurrent applies then)."""
        while True:
            self._commanded.clear()
            now = self.clock.monotonic()
            end = self.commands.next_expiry(now)
            if end is None:
                await self._commanded.wait()
                continue
            await _first(self.clock.sleep(end - now), self._commanded.wait())
            if self.clock.monotonic() >= end:
                self._trace("MQTT command setpoint expired: Safe-MaxCurrent applies until the next command")
                self._limits_changed()
                self._dirty.set()
