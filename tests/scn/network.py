"""A Smart Charging Network of N real controllers (`chargepoint run` on the simulated board, the virtual HIL
rig) on loopback: station 0 coordinates, the others are members listed by address; a sampler reads every
station's offered current through the sim control API all the time and keeps the worst network sum.

While the coordinator is down its last sampled offer keeps counting (its control process stops on its own,
but the sampler cannot see it), which only makes the check stricter.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from board.loader import builtin_board
from controller.backoffice.server import BackOffice
from hil.rig import VirtualRig, free_port

VALIDITY_S = 2  # MbsSlaveTCPIPValidityTime: short, so a lost coordinator shows within seconds
SAFE_A = 6.0  # SCN-SocketSafeCurrent
FOLLOW_S = 1.0  # [scn] car_follow_s


def total_for(n: int) -> float:
    return 10.0 * n + 10.0  # 40 A for three stations: 13.33 A each, well above the safe current


def board_text(total: float, role: str, members: list[int]) -> str:
    base = builtin_board("sim").read_text()
    defaults = "\n".join([
        'MbsSlaveTCPIP = "On"', 'MbsSlaveTCPIPMode = "SCN"', f'MbsSlaveTCPIPValidityTime = "{VALIDITY_S}"',
        f'SCN-TotalStaticCurrent = "{total}"', f'SCN-SocketSafeCurrent = "{SAFE_A}"',
        'Safe-MaxCurrent = "32"',  # a member that fell back to Safe-MaxCurrent instead would break the limit
    ])
    listed = ", ".join(f'{{ address = "127.0.0.1:{p}" }}' for p in members)
    scn = f'\n[scn]\nrole = "{role}"\ncar_follow_s = {FOLLOW_S}\n' + (f"members = [{listed}]\n" if members else "")
    return base.rstrip("\n") + "\n" + defaults + "\n" + scn


@dataclass
class Network:
    tmp: Path
    n: int
    bo: BackOffice = field(default_factory=BackOffice)
    rigs: list[VirtualRig] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)
    last: dict[int, float] = field(default_factory=dict)
    worst: float = 0.0
    worst_at: dict[int, float] = field(default_factory=dict)
    samples: int = 0
    over: list[tuple[float, dict[int, float]]] = field(default_factory=list)
    _status: dict[int, dict[str, Any]] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    scn: dict[int, dict[str, Any]] = field(default_factory=dict)  # each station's "scn" status
    down: set[int] = field(default_factory=set)  # killed: not sampled, their last offer keeps counting
    _sampler: asyncio.Task[None] | None = None

    @property
    def total(self) -> float:
        return total_for(self.n)

    def rig(self, i: int) -> VirtualRig:
        port = self.ports[i]
        role = "coordinator" if i == 0 else "member"
        path = self.tmp / f"board-{i}.toml"
        path.write_text(board_text(self.total, role, self.ports[1:] if i == 0 else []))
        return VirtualRig(self.bo.url, identity=f"SCN-{i}", board=str(path), state_dir=self.tmp / f"state-{i}",
                          extra_args=["--modbus-host", "127.0.0.1", "--modbus-port", str(port)])

    async def start(self) -> None:
        await self.bo.start()
        self.ports = [free_port() for _ in range(self.n)]
        self.rigs = [self.rig(i) for i in range(self.n)]
        members = self.rigs[1:]
        for k in range(0, len(members), 2):  # members first (the coordinator finds them), two at a time on 2 cores
            await asyncio.gather(*(r.start() for r in members[k : k + 2]))
        await self.rigs[0].start()
        await asyncio.gather(*(self.bo.wait_for("StatusNotification", r.identity, timeout=30) for r in self.rigs))
        self._sampler = asyncio.ensure_future(self._sample())

    async def command(self, i: int, cmd: str, **args: Any) -> dict[str, Any]:
        """One command to station i (one at a time per connection: the sampler shares it)."""
        async with self._locks.setdefault(i, asyncio.Lock()):
            return await asyncio.wait_for(self.rigs[i].command(cmd, **args), 5)

    async def plug(self, i: int) -> None:
        assert (await self.command(i, "plug", connector=1, ev={"max_current": 32}))["ok"]
        await self.until(lambda: self.conn(i).get("ocpp_status") == "Preparing", 15, f"station {i} Preparing")
        assert (await self.command(i, "tag", uid="SCN-CARD"))["ok"]

    def conn(self, i: int) -> dict[str, Any]:
        return self._status.get(i, {})

    async def _read(self, i: int) -> None:
        with contextlib.suppress(OSError, ConnectionError, TimeoutError, KeyError, ValueError):
            st = await self.command(i, "status")
            conn = st["connectors"][0]
            self._status[i] = conn
            self.scn[i] = st["energy"]["scn"]
            self.last[i] = float(conn["offered_a"] or 0.0)

    async def _sample(self) -> None:
        while True:
            for i in range(self.n):
                if i not in self.down:
                    await self._read(i)
            self.samples += 1
            s = sum(self.last.values())
            if s > self.worst:
                self.worst, self.worst_at = s, dict(self.last)
            if s > self.total + 0.05:
                self.over.append((time.monotonic(), dict(self.last)))
            await asyncio.sleep(0.01)

    async def until(self, pred: Any, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}; offers {self.last}")
            await asyncio.sleep(0.05)

    async def next_round(self) -> None:
        """Until the sampler has completed a whole round after now."""
        n = self.samples
        await self.until(lambda: self.samples >= n + 2, 20, "a sampling round")

    def offers(self) -> list[float]:
        return [self.last.get(i, 0.0) for i in range(self.n)]

    async def kill_coordinator(self) -> None:
        async with self._locks.setdefault(0, asyncio.Lock()):
            self.down.add(0)
        self.rigs[0].kill()  # SIGKILL: its sampled offer stays as it was last seen
        with contextlib.suppress(Exception):
            await self.rigs[0].close()

    async def restart_coordinator(self) -> None:
        self._locks.pop(0, None)
        rig = self.rig(0)
        mark = len(self.bo.records)
        await rig.start()
        self.rigs[0] = rig
        self.down.discard(0)
        await self.bo.wait_for("StatusNotification", "SCN-0", timeout=30, after=mark)

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            await asyncio.gather(self._sampler, return_exceptions=True)
        for r in self.rigs:
            with contextlib.suppress(Exception):
                await r.close()
        await self.bo.stop()
