"""The Smart Charging Network's settings: the board's `[scn]` section (role, members, timing) and the SCN-*
keys, read into one snapshot (`ScnSettings.read`), and the keys this package owns (`CONFIG_KEYS`).

- `[scn] role = "coordinator"` makes this station the coordinator; `"member"` (or no section) a member. A
  station in an SCN reports `SCN-IsEnabled` true (false without an `[scn]` section).
- `[scn] members`: the stations the coordinator drives, each `{ address = "host:port", phase_mapping = 4,
  max_current = 32 }` (their sockets' SCN-PhaseMapping and rating, which no register carries). `discover =
  true` also finds members announcing themselves over mDNS (`controller.scn.discovery`).
- `[scn] car_follow_s` (default 6: IEC 61851's 5 s and the message to the loop): how long a car may still
  draw a lowered offer. The coordinator counts a lowered or expired setpoint that much longer.
- SCN-TotalStaticCurrent: A per feeder phase for the whole network. SCN-SocketSafeCurrent: what each socket
  uses once its station lost the coordinator (the member side applies it: `controller.energy.manager`).
  SCN-AlternatingPeriod: the rotation period when the current does not suffice. SCN-PhaseMapping-1/2: the
  coordinator's own sockets' wiring to the feeder. MbsSlaveTCPIPValidityTime: how long a setpoint counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.energy.settings import KeyValues, read_field

COORDINATOR, MEMBER = "coordinator", "member"
DEFAULT_FOLLOW_S = 6.0
DEFAULT_MAPPING = 4

#: keys the SCN package applies (bound to it by the composition root)
CONFIG_KEYS = (
    "SCN-TotalStaticCurrent", "SCN-SocketSafeCurrent", "SCN-AlternatingPeriod",
    "SCN-PhaseMapping-1", "SCN-PhaseMapping-2", "SCN-IsEnabled",
)


@dataclass(frozen=True)
class MemberSpec:
    host: str
    port: int
    phase_mapping: int = DEFAULT_MAPPING
    max_current: float = 32.0

    @property
    def name(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ScnBoard:
    """The board file's `[scn]` section."""

    role: str | None = None  # None: not in an SCN
    members: tuple[MemberSpec, ...] = ()
    discover: bool = False
    car_follow_s: float = DEFAULT_FOLLOW_S

    @staticmethod
    def of(section: Mapping[str, Any]) -> ScnBoard:
        if not section:
            return ScnBoard()
        members = []
        for m in section.get("members", []):
            host, _, port = str(m["address"]).rpartition(":")
            members.append(MemberSpec(host, int(port), int(m.get("phase_mapping", DEFAULT_MAPPING)),
                                      float(m.get("max_current", 32.0))))
        return ScnBoard(str(section.get("role", MEMBER)), tuple(members), bool(section.get("discover", False)),
                        float(section.get("car_follow_s", DEFAULT_FOLLOW_S)))

    @property
    def coordinator(self) -> bool:
        return self.role == COORDINATOR


def _float(config: KeyValues, key: str, default: float) -> float:
    try:
        return float(config.get(key))
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True)
class ScnSettings:
    total_a: float
    socket_safe_a: float
    period_s: float
    mappings: tuple[int, int]
    validity_s: float
    mode: str

    @staticmethod
    def read(config: KeyValues) -> ScnSettings:
        return ScnSettings(
            _float(config, "SCN-TotalStaticCurrent", 200.0),
            _float(config, "SCN-SocketSafeCurrent", 6.0),
            _float(config, "SCN-AlternatingPeriod", 900.0),
            (int(_float(config, "SCN-PhaseMapping-1", 4)), int(_float(config, "SCN-PhaseMapping-2", 4))),
            float(read_field(config, "mbs_validity_s")),
            str(read_field(config, "mbs_mode")),
        )

    def mapping(self, cid: int) -> int:
        return self.mappings[0] if cid <= 1 else self.mappings[1]
