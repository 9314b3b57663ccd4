"""The board file's [mqtt] section as one typed value (`MqttSettings.from_board`).

The section's keys, bounds and defaults are declared once in `board.schema.MQTT_KEYS` (the loader has checked
them). The password is never in the board file: `password_file` names a file whose first line it is (a
relative path is relative to the board file). Its value never appears in a repr, a log line or the trace:
`mask` removes it from any text the bridge writes.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from board.schema import MQTT_KEYS

MASK = "***"


class MqttConfigError(ValueError):
    """The [mqtt] section cannot be used (e.g. its password file cannot be read); the message names why."""


def _default(name: str) -> Any:
    return MQTT_KEYS[name].default


@dataclass(frozen=True)
class MqttSettings:
    enabled: bool = False
    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None
    topic_prefix: str = "chargepoint"
    discovery_prefix: str = "homeassistant"
    client_id: str | None = None
    keepalive_s: int = 30
    interval_s: float = 2.0
    command_validity_s: float | None = None  # None: the MbsSlaveTCPIPValidityTime key

    @classmethod
    def from_board(cls, section: Mapping[str, Any], board_dir: Path) -> MqttSettings:
        """The settings of a board's [mqtt] section (loader-checked); MqttConfigError names an unusable one."""
        def get(name: str) -> Any:
            return section.get(name, _default(name))

        password = None
        if section.get("password_file"):
            path = Path(str(section["password_file"]))
            path = path if path.is_absolute() else board_dir / path
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise MqttConfigError(f"mqtt.password_file {path}: {exc.strerror or exc}") from None
            password = lines[0] if lines else ""
        validity = section.get("command_validity_s")
        return cls(
            enabled=bool(get("enabled")),
            host=str(get("host")),
            port=int(get("port")),
            username=section.get("username"),
            password=password,
            tls=bool(get("tls")),
            ca_file=section.get("ca_file"),
            topic_prefix=str(get("topic_prefix")).strip("/"),
            discovery_prefix=str(get("discovery_prefix")).strip("/"),
            client_id=section.get("client_id"),
            keepalive_s=int(get("keepalive_s")),
            interval_s=float(get("interval_s")),
            command_validity_s=None if validity is None else float(validity),
        )

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS context for the broker (None: plain TCP). The broker's certificate is always verified."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file)

    def mask(self, text: str) -> str:
        """`text` with the password (and nothing else) replaced: for every line the bridge logs or traces."""
        return text.replace(self.password, MASK) if self.password else text
