"""Finding the stations of a Smart Charging Network over mDNS (the maintained `zeroconf` package).

Every station of an SCN with `[scn] discover = true` announces its Modbus TCP slave as a `_scn-modbus._tcp`
service whose TXT record carries the network's name (SCN-NetworkName), its role, its sockets' phase mapping
(SCN-PhaseMapping-1) and its sockets' rating. The coordinator browses for the service and adds every member of
its own network it finds; a station announcing itself as coordinator of the same network is a second
coordinator, a configuration error (each of the two sees the other). Announcements bind to the slave's
listening address (all interfaces when it listens on 0.0.0.0).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Mapping
from typing import Any

from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from controller.scn.settings import COORDINATOR, MemberSpec

log = logging.getLogger(__name__)

SERVICE = "_scn-modbus._tcp.local."
RESOLVE_MS = 3000


def _interfaces(host: str) -> Any:
    return InterfaceChoice.All if host in ("", "0.0.0.0") else [host]


def _txt(props: Mapping[bytes, bytes | None]) -> dict[str, str]:
    return {k.decode(): (v or b"").decode() for k, v in props.items()}


class Announcer:
    """This station's announcement (start/stop)."""

    def __init__(self, instance: str, host: str, port: int, txt: Mapping[str, str]) -> None:
        self.host = host
        address = host if host not in ("", "0.0.0.0") else "127.0.0.1"
        self.info = AsyncServiceInfo(
            SERVICE, f"{instance}.{SERVICE}", addresses=[socket.inet_aton(address)], port=port,
            properties=dict(txt), server=f"{instance}.local.",
        )
        self.zc: AsyncZeroconf | None = None

    async def start(self) -> None:
        self.zc = AsyncZeroconf(interfaces=_interfaces(self.host), ip_version=IPVersion.V4Only)
        await self.zc.async_register_service(self.info)

    async def stop(self) -> None:
        if self.zc is not None:
            await self.zc.async_unregister_service(self.info)
            await self.zc.async_close()
            self.zc = None


class Browser:
    """The coordinator's search for the members of `network`: `on_member(spec)` for each one found,
    `on_coordinator(name)` for a second coordinator."""

    def __init__(self, host: str, network: str, own_instance: str, on_member: Callable[[MemberSpec], None],
                 on_coordinator: Callable[[str], None]) -> None:
        self.host, self.network, self.own = host, network, own_instance
        self.on_member, self.on_coordinator = on_member, on_coordinator
        self.zc: AsyncZeroconf | None = None
        self.browser: AsyncServiceBrowser | None = None
        self._pending: set[Any] = set()

    async def start(self) -> None:
        self.zc = AsyncZeroconf(interfaces=_interfaces(self.host), ip_version=IPVersion.V4Only)
        self.browser = AsyncServiceBrowser(self.zc.zeroconf, [SERVICE], handlers=[self._changed])

    def _changed(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        if state_change is ServiceStateChange.Added and not name.startswith(f"{self.own}."):
            task = asyncio.ensure_future(self._resolve(name))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _resolve(self, name: str) -> None:
        assert self.zc is not None
        info = AsyncServiceInfo(SERVICE, name)
        if not await info.async_request(self.zc.zeroconf, RESOLVE_MS) or not info.parsed_addresses():
            log.warning("SCN: %s announced but could not be resolved", name)
            return
        txt = _txt(info.properties)
        if txt.get("network") != self.network:
            return
        address = f"{info.parsed_addresses()[0]}:{info.port}"
        if txt.get("role") == COORDINATOR:
            self.on_coordinator(address)
            return
        self.on_member(MemberSpec(info.parsed_addresses()[0], int(info.port or 0), int(txt.get("mapping", "4")),
                                  float(txt.get("max_current", "32"))))

    async def stop(self) -> None:
        if self.browser is not None:
            await self.browser.async_cancel()
        if self.zc is not None:
            await self.zc.async_close()
        self.browser = self.zc = None
