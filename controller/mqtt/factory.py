"""`build_mqtt`: the MQTT bridge as the composition root builds it (one call, the ports it needs named).

The commands' caps are handed to the limits (`CapsHook.caps`), so the offer published to the control loop is
the least of them and every other limit. Their validity time is [mqtt] `command_validity_s`, else the
MbsSlaveTCPIPValidityTime key; once they run out the socket gets Safe-MaxCurrent (both keys read at each use).
An unusable [mqtt] section (its password file cannot be read) is logged and traced and leaves the bridge off;
the station runs on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from board.loader import Board
from controller.clock import Clock
from controller.mqtt.bridge import MqttBridge
from controller.mqtt.commands import RemoteCommands
from controller.mqtt.discovery import Identification
from controller.mqtt.report import SessionEnergy
from controller.mqtt.settings import MqttConfigError, MqttSettings
from controller.ports import SessionsPort, Settings, SocketsView, Trace

log = logging.getLogger(__name__)


class CapsHook(Protocol):
    """The limits (`station.limits.LimitArbiter`): further per-socket caps (A) it takes the least of."""

    caps: list[Callable[[int], float]]


def build_mqtt(
    board: Board,
    clock: Clock,
    settings: Settings,
    sockets: SocketsView,
    sessions: SessionsPort,
    ocpp_status: Callable[[int], str],
    identification: Callable[[], Identification],
    limits: CapsHook,
    limits_changed: Callable[[], None],
    trace: Trace,
) -> MqttBridge:
    mqtt: MqttSettings | None = None
    if board.mqtt.get("enabled"):
        try:
            mqtt = MqttSettings.from_board(board.mqtt, board.path.parent)
        except MqttConfigError as exc:
            log.error("MQTT bridge off: %s", exc)
            trace(f"MQTT bridge off: {exc}")

    def validity_s() -> float:
        if mqtt is not None and mqtt.command_validity_s is not None:
            return mqtt.command_validity_s
        return float(settings.get_int("MbsSlaveTCPIPValidityTime"))

    commands = RemoteCommands(
        {c.id: c.max_current for c in board.connectors}, validity_s, lambda: settings.get_float("Safe-MaxCurrent")
    )
    limits.caps.append(lambda cid: commands.cap(cid, clock.monotonic()))

    def session(cid: int) -> SessionEnergy | None:
        return sessions.sessions.get(cid)

    return MqttBridge(mqtt, clock, commands, sockets, session, ocpp_status, identification, limits_changed, trace)
