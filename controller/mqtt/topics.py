"""The topic layout, in one place.

    <topic_prefix>/<node>/status                       online / offline (retained; the last will says offline)
    <topic_prefix>/<node>/socket/<id>/<name>           a socket's state or measurement (retained)
    <topic_prefix>/<node>/socket/<id>/<name>/set       a command (max_current, charging)
    <discovery_prefix>/<platform>/<node>/socket<id>_<name>/config   Home Assistant discovery (retained)

`<node>` is the station's identity made safe for a topic level and a Home Assistant node id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ONLINE, OFFLINE = "online", "offline"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def node_id(identity: str) -> str:
    """`identity` as a topic level and Home Assistant node id: [A-Za-z0-9_-] only, never empty."""
    return _UNSAFE.sub("_", identity) or "chargepoint"


@dataclass(frozen=True)
class Topics:
    prefix: str
    discovery_prefix: str
    node: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.node}" if self.prefix else self.node

    @property
    def availability(self) -> str:
        return f"{self.base}/status"

    def state(self, cid: int, name: str) -> str:
        return f"{self.base}/socket/{cid}/{name}"

    def command(self, cid: int, name: str) -> str:
        return f"{self.state(cid, name)}/set"

    @property
    def commands(self) -> str:
        """The subscription that covers every command topic."""
        return f"{self.base}/socket/+/+/set"

    def parse_command(self, topic: str) -> tuple[int, str] | None:
        """(socket id, command name) of a command topic, None for any other topic."""
        head = f"{self.base}/socket/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        parts = topic[len(head):-len("/set")].split("/")
        if len(parts) != 2 or not parts[0].isdigit():
            return None
        return int(parts[0]), parts[1]

    def discovery(self, platform: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{platform}/{self.node}/{object_id}/config"
