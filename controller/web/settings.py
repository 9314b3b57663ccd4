"""Whether and where the web interface listens and whether its status page is public: the board's [web]
section (`board/schema.py` declares it with its defaults), overridden by `CHARGEPOINT_WEB_LISTEN=host:port`
or `=off` (an environment variable for tests and development: a simulated board run by hand can be given a
fixed port; a test that starts many controllers and needs no page can leave it out)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_LISTEN = "CHARGEPOINT_WEB_LISTEN"


@dataclass(frozen=True)
class WebSettings:
    listen: str = "0.0.0.0"
    port: int = 8080
    status_public: bool = False  # the status page (and its live feed) without a login; configuration never
    enabled: bool = True

    @classmethod
    def from_board(cls, section: Mapping[str, Any], env: Mapping[str, str] | None = None) -> WebSettings:
        """The board's [web] values, then the environment override (`host:port`, either part may be empty)."""
        listen = str(section.get("listen", cls.listen))
        port = int(section.get("port", cls.port))
        override = (os.environ if env is None else env).get(ENV_LISTEN, "").strip()
        public = bool(section.get("status_public", cls.status_public))
        if override.lower() == "off" or not section.get("enabled", True):
            return cls(listen, port, public, enabled=False)
        if override:
            host, _, port_text = override.rpartition(":")
            if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
                raise ValueError(f"{ENV_LISTEN}={override!r}: expected HOST:PORT")
            listen, port = host or listen, int(port_text)
        return cls(listen, port, public)
