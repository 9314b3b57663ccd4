"""Crash safety end to end: real controller processes (`python -m controller run`) driven through the sim
control API for 50 charging sessions, each controller SIGKILLed at random moments and restarted on the same
state directory, while the back office flaps (connections cut, the server down for a while).

Afterwards the back office must hold every transaction the controllers journalled exactly once (resends of the
one message in flight at a crash are absorbed by its dedupe), with the same start/stop data, meter values in
order and within the transaction's meter range, and each transaction's messages in order. The counts are
printed (run with -s to see them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.backoffice.server import BackOffice
from controller.config.store import ConfigStore

CONTROLLERS = 5
SESSIONS_EACH = 10
SEED = 20260101
TX_ACTIONS = ("StartTransaction", "StopTransaction", "MeterValues")
CONFIG = {
    "MeterValueSampleInterval": "2",
    "AllowOfflineTxForUnknownId": "true",
    "StopTransactionOnEVSideDisconnect": "true",
    "ConnectionTimeOut": "10",
}


def control_children(parent: int) -> set[int]:
    """The control processes (`controller.evse.process`) whose parent is `parent`."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if b"controller.evse.process" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                    continue
                status = Path(f"/proc/{entry}/status").read_text()
                ppid = int(status.split("PPid:", 1)[1].split()[0])
                if ppid == parent:
                    pids.add(int(entry))
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text().split("State:", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class Controller:
    identity: str
    state_dir: Path
    backoffice_url: str
    proc: asyncio.subprocess.Process | None = None
    sim: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    kills: int = 0
    starts: int = 0
    attempted: int = 0
    output: list[str] = field(default_factory=list)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    children: set[int] = field(default_factory=set)  # control processes this controller started
    _signalled: bool = False

    async def crash(self, pause: float) -> None:
        """SIGKILL (unless already dead), then start again on the same state directory."""
        async with self._lock:
            await self.kill()
            await asyncio.sleep(pause)
            await self.start()

    def kill_now(self) -> bool:
        """SIGKILL at once, from inside a back office handler (the restart follows via `crash`)."""
        if self.proc is None or self.proc.returncode is not None or not self._ready.is_set():
            return False
        self._ready.clear()
        self.children |= control_children(self.proc.pid)
        self.proc.send_signal(signal.SIGKILL)
        self._signalled = True
        self.kills += 1
        return True

    async def start(self) -> None:
        self._ready.clear()
        self._signalled = False
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controller", "run", "--state-dir", str(self.state_dir),
            "--backoffice", self.backoffice_url, "--identity", self.identity, "--sim-control", "127.0.0.1:0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        self.starts += 1
        port = None
        assert self.proc.stdout is not None
        while port is None:
            line = (await asyncio.wait_for(self.proc.stdout.readline(), 30)).decode(errors="replace")
            if not line:
                raise RuntimeError(f"{self.identity} exited at start:\n" + "".join(self.output[-30:]))
            self.output.append(line)
            if "sim control API on" in line:
                port = int(line.rsplit(":", 1)[1])
        asyncio.ensure_future(self._drain(self.proc))
        self.sim = await asyncio.open_connection("127.0.0.1", port)
        self._ready.set()

    async def _drain(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            self.output.append(line.decode(errors="replace"))
            del self.output[:-400]

    async def kill(self) -> None:
        self._ready.clear()
        if self.proc is not None:
            self.children |= control_children(self.proc.pid)
        if self.sim is not None:
            self.sim[1].close()
            self.sim = None
        if self.proc is not None and self.proc.returncode is None:
            if not self._signalled:
                self.proc.send_signal(signal.SIGKILL)
                self.kills += 1
            await self.proc.wait()

    async def stop(self) -> None:
        self._ready.clear()
        if self.proc is not None:
            self.children |= control_children(self.proc.pid)
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()

    async def cmd(self, name: str, **args: Any) -> dict[str, Any]:
        """One sim API command; raises ConnectionError when the controller is (being) killed."""
        await asyncio.wait_for(self._ready.wait(), 60)
        sim = self.sim
        if sim is None:
            raise ConnectionError("no controller")
        reader, writer = sim
        writer.write(json.dumps({"cmd": name, **args}).encode() + b"\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        if not line:
            raise ConnectionError("controller went away")
        return dict(json.loads(line))

    def journal(self) -> tuple[list[tuple[Any, ...]], int]:
        db = sqlite3.connect(f"file:{self.state_dir / 'journal.sqlite'}?mode=ro", uri=True)
        try:
            rows = db.execute(
                "SELECT local_id,connector_id,id_tag,meter_start,start_time,remote_id,meter_stop,stop_time,"
                "stop_reason,state FROM transactions ORDER BY local_id"
            ).fetchall()
            pending = int(db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        finally:
            db.close()
        return rows, pending


async def drive_sessions(c: Controller, rng: random.Random) -> None:
    for n in range(SESSIONS_EACH):
        c.attempted += 1
        uid = f"{c.identity}-{n}"
        with contextlib.suppress(ConnectionError, TimeoutError, OSError):
            await c.cmd("plug", connector=1)
            await c.cmd("tag", uid=uid)
            await asyncio.sleep(rng.uniform(1.0, 4.5))
            if rng.random() < 0.5:
                await c.cmd("tag", uid=uid)  # stop with the card (Local)
                await asyncio.sleep(rng.uniform(0.1, 0.4))
            await c.cmd("unplug", connector=1)  # (EVDisconnected if still running)
            await asyncio.sleep(rng.uniform(0.2, 0.6))
        with contextlib.suppress(ConnectionError, TimeoutError, OSError):
            await c.cmd("unplug", connector=1)


async def kill_randomly(c: Controller, rng: random.Random, done: asyncio.Event) -> None:
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), rng.uniform(1.5, 7.0))
        if done.is_set():
            return
        await c.crash(rng.uniform(0.0, 0.5))


def kill_in_flight(bo: BackOffice, controllers: list[Controller], rng: random.Random, counts: dict[str, int]) -> None:
    """Some kills land exactly in the window that matters: the back office has processed a transaction
    message and is about to answer; the controller dies before it can commit the answer."""
    by_id = {c.identity: c for c in controllers}

    def before_answer(cp_id: str, action: str) -> bool:
        c = by_id.get(cp_id)
        if action in TX_ACTIONS and c is not None and rng.random() < 0.12 and c.kill_now():
            counts[f"killed before {action}.conf"] = counts.get(f"killed before {action}.conf", 0) + 1
            asyncio.ensure_future(c.crash(rng.uniform(0.0, 0.3)))
        return True

    bo.before_answer = before_answer


async def flap(bo: BackOffice, rng: random.Random, done: asyncio.Event, counts: dict[str, int]) -> None:
    while not done.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), rng.uniform(2.0, 5.0))
        if done.is_set():
            return
        if rng.random() < 0.5:
            for cp in bo.connected_ids():
                await bo.drop(cp)
            counts["drops"] += 1
        else:
            await bo.stop()
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            await bo.start()
            counts["outages"] += 1


async def test_sigkill_at_random_points_with_a_flapping_back_office(tmp_path: Path, monkeypatch: Any) -> None:
    t0 = time.monotonic()
    monkeypatch.setenv("CHARGEPOINT_WEB_LISTEN", "off")  # no web page needed: its ~0.2 s start-up x every restart
    rng = random.Random(SEED)
    bo = BackOffice()
    await bo.start()
    controllers = []
    for i in range(CONTROLLERS):
        state = tmp_path / f"cp{i}"
        state.mkdir()
        ConfigStore(state / "config.json").save(dict(CONFIG))
        controllers.append(Controller(f"CHAOS{i}", state, bo.url))
    await asyncio.gather(*(c.start() for c in controllers))
    done = asyncio.Event()
    counts = {"drops": 0, "outages": 0}
    kill_in_flight(bo, controllers, random.Random(rng.random()), counts)
    chaos = [asyncio.create_task(kill_randomly(c, random.Random(rng.random()), done)) for c in controllers]
    chaos.append(asyncio.create_task(flap(bo, random.Random(rng.random()), done, counts)))
    try:
        await asyncio.gather(*(drive_sessions(c, random.Random(rng.random())) for c in controllers))
        done.set()
        await asyncio.gather(*chaos)
        if not bo.serving:
            await bo.start()
        for c in controllers:  # end any session still running, then let everything be delivered
            with contextlib.suppress(ConnectionError, TimeoutError, OSError):
                await c.cmd("unplug", connector=1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            states = [c.journal() for c in controllers]
            if all(p == 0 and all(r[9] == "done" for r in rows) for rows, p in states):
                break
            await asyncio.sleep(0.5)
        else:
            for c in controllers:
                print(c.identity, c.journal()[1], "".join(c.output[-40:]))
            raise AssertionError("not everything was delivered within 60 s")
    finally:
        done.set()
        for t in chaos:
            t.cancel()
        await asyncio.gather(*(c.stop() for c in controllers), return_exceptions=True)

    starts_received = 0
    journalled = 0
    meter_values = 0
    for c in controllers:
        rows, pending = c.journal()
        assert pending == 0
        mine = {tid: tx for tid, tx in bo.transactions.items() if tx["cp_id"] == c.identity}
        journal_tids = [r[5] for r in rows]
        assert None not in journal_tids and len(set(journal_tids)) == len(rows)
        assert set(journal_tids) == set(mine), f"{c.identity}: journal {journal_tids} back office {sorted(mine)}"
        journalled += len(rows)
        records = [r for r in bo.records if r.cp_id == c.identity and r.direction == "in"]
        starts_received += sum(1 for r in records if r.action == "StartTransaction")
        first_start: dict[int, int] = {}
        for local_id, cid, tag, m_start, t_start, tid, m_stop, t_stop, reason, state in rows:
            tx = mine[tid]
            assert state == "done"
            assert (tx["connector_id"], tx["id_tag"], tx["meter_start"], tx["timestamp"]) == (cid, tag, m_start, t_start)
            assert (tx["meter_stop"], tx["stop_timestamp"], tx.get("reason")) == (m_stop, t_stop, reason)
            assert m_stop >= m_start
            stamps = [mv["timestamp"] for mv in tx["meter_values"]]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
            assert all(t_start <= s <= t_stop for s in stamps)
            energies = [float(mv["sampledValue"][0]["value"]) for mv in tx["meter_values"]]
            assert energies == sorted(energies)
            assert all(m_start <= e <= m_stop for e in energies), (tid, m_start, energies, m_stop)
            meter_values += len(energies)
            # this transaction's messages in order: its start, its meter values, its stop
            idx = [i for i, r in enumerate(records)
                   if (r.action == "StartTransaction" and r.response and r.response.get("transactionId") == tid)
                   or (r.action in ("MeterValues", "StopTransaction") and r.payload.get("transactionId") == tid)]
            kinds = [records[i].action for i in idx]
            assert kinds[0] == "StartTransaction" and kinds[-1] == "StopTransaction", kinds
            first_start[local_id] = idx[0]
        order = [first_start[r[0]] for r in rows]
        assert order == sorted(order), f"{c.identity}: transactions reached the back office out of order"

    children = set().union(*(c.children for c in controllers))
    for _ in range(100):  # a control process whose main process died goes safe and exits by itself
        leftover = {pid for pid in children if alive(pid)}
        if not leftover:
            break
        await asyncio.sleep(0.1)
    await bo.stop()
    assert not leftover, f"orphaned control processes: {leftover}"

    attempted = sum(c.attempted for c in controllers)
    kills = sum(c.kills for c in controllers)
    print(
        f"\nchaos: {attempted} sessions driven on {CONTROLLERS} controllers, {kills} SIGKILLs, "
        f"{counts['drops']} connection cuts, {counts['outages']} back office outages, "
        f"{time.monotonic() - t0:.0f} s\n"
        f"  kills between the back office processing a message and us committing its answer: "
        f"{ {k: v for k, v in counts.items() if k.startswith('killed')} }\n"
        f"  transactions journalled {journalled}, in the back office {len(bo.transactions)} (exactly once each)\n"
        f"  StartTransaction received {starts_received}, resends absorbed: {bo.duplicates}\n"
        f"  meter values {meter_values}, all in order and within their transaction's meter range\n"
        f"  control processes left behind by killed controllers: none of {len(children)}"
    )
    assert kills >= CONTROLLERS  # the test did kill
    assert journalled >= attempted // 3  # most sessions ran despite the kills
    assert len(bo.transactions) == journalled
