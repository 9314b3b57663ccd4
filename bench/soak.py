"""`make soak MINUTES=N` (default 10; `python -m bench.soak MINUTES [--seed S]`): one controller, as a real
process on the simulated double board, against the built-in back office, for N minutes of wall-clock time.

Each socket cycles through random sessions (plug, start by RemoteStartTransaction or a card, charge a while,
stop by unplugging, RemoteStopTransaction or the card), while a seeded timeline (`CHAOS`, at least one of
each) injects faults (overheating, tilt, residual current, protective earth, socket meter lost, an EV pausing),
back office outages, SIGKILLs of the control process (within the supervisor's restart budget, so the station
never latches CONTROL_RESTARTS) and SIGKILLs of the main process (restarted 2 s later, as systemd would).

It prints RSS and open fds of the main and the control process over time (judged flat by `soak_report`),
the bytes written to storage by the controller and all its children (/proc/self/io of this process, which is
the controller's subreaper: a reaped child's counts are added to its reaper; the state directory is on a
real disk, not tmpfs), and, after the sockets are unplugged and the journal has delivered everything, checks
the journal against the back office: every transaction exactly once. Exit status 1 when a check fails.
The controller's output goes to a pipe (journald's writes on the board are not the controller's).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from bench.soak_report import Sample, fd_count, flatness, proc_status_kib, reconcile, write_bytes
from board.loader import builtin_board
from controller.backoffice.server import BackOffice
from controller.evse.supervisor import MAX_RESTARTS, RESTART_WINDOW_S
from controller.transactions.journal import Journal
from hil.rig import VirtualRig

BOARD = "sim-double"
IDENTITY = "SOAK"
SAMPLE_S = 5.0
RESTART_SEC = 2.0  # the unit's RestartSec=
PR_SET_CHILD_SUBREAPER = 36
CONTROL = "controller.evse.process"
PLANT = "hal.sim.plant"


@dataclass(frozen=True)
class FaultEpisode:
    """A fault the soak injects and later clears (sim control API commands); `per_socket`: it takes a
    connector argument."""

    name: str
    cmd: str
    on: dict[str, Any]
    off_cmd: str
    off: dict[str, Any]
    per_socket: bool = False


FAULTS = (
    FaultEpisode("overheating", "temperature", {"celsius": 120}, "temperature", {"celsius": 25}),
    FaultEpisode("tilt", "tilt", {"degrees": 40}, "tilt", {"degrees": 0}),
    FaultEpisode("protective earth lost", "pe", {"present": False}, "pe", {"present": True}),
    FaultEpisode("residual current", "rcd", {"trip": True}, "rcd", {"trip": False}, per_socket=True),
    FaultEpisode("socket meter lost", "meter_offline", {"offline": True}, "meter_offline", {"offline": False},
                 per_socket=True),
    FaultEpisode("EV pauses", "ev_pause", {}, "ev_resume", {}, per_socket=True),
)

# chaos events per minute of soak (at least one of each in any run)
CHAOS = {"fault": 1.5, "outage": 0.6, "kill_control": 0.5, "kill_main": 0.35}


class Controller(VirtualRig):
    """The controller process (`chargepoint run` on the simulated board) whose output goes to a pipe drained
    into a short ring of lines (shown when the soak fails) instead of a file."""

    def __init__(self, backoffice_url: str, state_dir: Path) -> None:
        super().__init__(backoffice_url, identity=IDENTITY, board=str(builtin_board(BOARD)), state_dir=state_dir)
        self.tail: collections.deque[str] = collections.deque(maxlen=200)
        self.output_bytes = 0
        self.started_at = 0.0
        self._lock = asyncio.Lock()
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def start(self) -> None:
        cmd = [sys.executable, "-m", "controller", "run", "--state-dir", str(self.state_dir),
               "--backoffice", self.backoffice_url, "--identity", self.identity,
               "--sim-control", f"127.0.0.1:{self.port}", "--board", str(self.board)]
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.started_at = time.monotonic()
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        await self._open(timeout=20.0)

    def _drain(self, pipe: Any) -> None:
        for line in pipe:
            self.output_bytes += len(line)
            self.tail.append(line.decode(errors="replace").rstrip())

    async def _open(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        while True:
            try:
                self._conn = await asyncio.open_connection(self.host, self.port)
                return
            except OSError:
                if time.monotonic() > end:
                    raise
                await asyncio.sleep(0.1)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn[1].close()
            self._conn = None

    async def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        """A sim control API request; a dead or restarting controller is an error reply, not an exception. A
        request cancelled half-way drops the connection, so no later request reads its reply."""
        async with self._lock:
            try:
                if self._conn is None:
                    await self._open(timeout=1.0)
                assert self._conn is not None
                reader, writer = self._conn
                writer.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
                await writer.drain()
                line = await asyncio.wait_for(reader.readline(), 10)
                if not line:
                    raise ConnectionError("the controller closed the connection")
                return dict(json.loads(line))
            except asyncio.CancelledError:
                self._drop()
                raise
            except (OSError, TimeoutError, ValueError) as exc:
                self._drop()
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    async def close(self) -> None:
        self._drop()
        await super().close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Soak:
    def __init__(self, minutes: float, seed: int, state_dir: Path) -> None:
        self.duration = minutes * 60.0
        self.rng = random.Random(seed)
        self.state_dir = state_dir
        self.bo = BackOffice(heartbeat_interval=60)
        self.ctl: Controller | None = None
        self.t0 = time.monotonic()
        self.samples: list[Sample] = []
        self.written: list[tuple[float, int]] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.control_kills: list[float] = []
        self.started: dict[int, float] = {}  # pid -> when first seen
        self.stopping = False
        self.io_at_start = write_bytes() or 0

    def now(self) -> float:
        return time.monotonic() - self.t0

    def log(self, line: str) -> None:
        print(f"{self.now():7.1f}s {line}", flush=True)

    # -- the controller ---------------------------------------------------------------------------------
    async def start_controller(self) -> None:
        assert self.ctl is not None
        await self.ctl.start()
        self.control_kills.clear()  # a new main process has a new restart budget
        self.log(f"controller started (pid {self.ctl.proc.pid if self.ctl.proc else '?'})")

    async def kill_main(self) -> None:
        ctl = self.ctl
        assert ctl is not None and ctl.proc is not None
        orphans = [p for p in (ctl.child_pid(CONTROL), ctl.child_pid(PLANT)) if p]
        ctl.kill()
        await asyncio.to_thread(_reap, orphans)
        self.counts["main SIGKILLs"] += 1
        self.log(f"SIGKILL main process {ctl.proc.pid}; restart in {RESTART_SEC} s")
        await asyncio.sleep(RESTART_SEC)
        await self.start_controller()

    async def kill_control(self) -> bool:
        assert self.ctl is not None
        recent = [t for t in self.control_kills if self.now() - t < RESTART_WINDOW_S]
        if len(recent) >= MAX_RESTARTS - 1:  # one death of the budget stays for a real one
            return False
        try:
            pid = self.ctl.kill_control()
        except RuntimeError:
            return False
        self.control_kills.append(self.now())
        self.counts["control SIGKILLs"] += 1
        self.log(f"SIGKILL control process {pid}")
        return True

    # -- the parts that run concurrently ------------------------------------------------------------------
    async def socket_sessions(self, cid: int) -> None:
        """Random sessions on one socket, each from plug to unplug (a restart in between changes nothing: the
        next step is valid whatever the station did meanwhile)."""
        ctl, rng = self.ctl, self.rng
        assert ctl is not None
        tag = f"SOAK{cid}"
        while not self.stopping:
            await ctl.command("plug", connector=cid, ev={"phases": rng.choice((1, 3)), "max_current": 16})
            await asyncio.sleep(rng.uniform(1, 3))
            if rng.random() < 0.7:
                with contextlib.suppress(Exception):
                    await self.bo.call(IDENTITY, call.RemoteStartTransaction(id_tag=tag, connector_id=cid), 10)
                self.counts["remote starts"] += 1
            else:
                await ctl.command("tag", uid=tag)
                self.counts["card starts"] += 1
            await asyncio.sleep(rng.uniform(10, 60))
            how = rng.random()
            if how < 0.3:
                tx = await self._transaction(cid)
                if tx is not None:
                    with contextlib.suppress(Exception):
                        await self.bo.call(IDENTITY, call.RemoteStopTransaction(transaction_id=tx), 10)
                    await asyncio.sleep(rng.uniform(1, 4))
            elif how < 0.5:
                await ctl.command("tag", uid=tag)
                await asyncio.sleep(rng.uniform(1, 4))
            await ctl.command("unplug", connector=cid)
            self.counts["sessions"] += 1
            await asyncio.sleep(rng.uniform(2, 10))

    async def _transaction(self, cid: int) -> int | None:
        assert self.ctl is not None
        status = await self.ctl.command("status")
        for conn in status.get("connectors", []):
            if conn.get("id") == cid and isinstance(conn.get("transaction_id"), int):
                return int(conn["transaction_id"])
        return None

    def timeline(self) -> list[tuple[float, str]]:
        events: list[tuple[float, str]] = []
        minutes = self.duration / 60
        for kind, per_minute in CHAOS.items():
            for _ in range(max(1, round(per_minute * minutes))):
                events.append((self.rng.uniform(0.1, 0.85) * self.duration, kind))
        return sorted(events)

    async def chaos(self) -> None:
        assert self.ctl is not None
        for at, kind in self.timeline():
            await asyncio.sleep(max(0.0, at - self.now()))
            if kind == "fault":
                await self.fault()
            elif kind == "outage":
                await self.outage()
            elif kind == "kill_control":
                if not await self.kill_control():
                    self.counts["control SIGKILLs skipped (restart budget)"] += 1
            elif kind == "kill_main":
                await self.kill_main()

    async def fault(self) -> None:
        assert self.ctl is not None
        ep = self.rng.choice(FAULTS)
        where = {"connector": self.rng.choice((1, 2))} if ep.per_socket else {}
        self.log(f"fault: {ep.name} {where or ''}")
        await self.ctl.command(ep.cmd, **where, **ep.on)
        await asyncio.sleep(self.rng.uniform(3, 15))
        await self.ctl.command(ep.off_cmd, **where, **ep.off)
        self.counts[f"fault {ep.name}"] += 1

    async def outage(self) -> None:
        seconds = self.rng.uniform(10, 40)
        self.log(f"back office outage for {seconds:.0f} s")
        await self.bo.stop()
        await asyncio.sleep(seconds)
        await self.bo.start()
        self.counts["back office outages"] += 1

    async def sampler(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(SAMPLE_S)

    def sample(self) -> None:
        ctl = self.ctl
        if ctl is None or not ctl.alive() or ctl.proc is None:
            return
        live = [("main", ctl.proc.pid), ("control", ctl.child_pid(CONTROL)), ("plant", ctl.child_pid(PLANT))]
        total = (write_bytes() or 0) - self.io_at_start
        for kind, pid in live:
            if pid is None:
                continue
            total += write_bytes(pid) or 0
            rss, fds = proc_status_kib(pid, "VmRSS"), fd_count(pid)
            if kind == "plant" or rss is None or fds is None:
                continue
            first = self.started.setdefault(pid, self.now())
            self.samples.append(Sample(self.now(), kind, pid, self.now() - first, rss, fds))
        self.written.append((self.now(), total))

    # -- the run ----------------------------------------------------------------------------------------
    async def run(self) -> int:
        await self.bo.start()
        self.ctl = Controller(self.bo.url, self.state_dir)
        await self.start_controller()
        await self.bo.wait_for("StatusNotification", IDENTITY, timeout=30)
        self.t0 = time.monotonic()
        sampler = asyncio.ensure_future(self.sampler())
        sockets = [asyncio.ensure_future(self.socket_sessions(cid)) for cid in (1, 2)]
        chaos = asyncio.ensure_future(self.chaos())
        await asyncio.sleep(self.duration)
        await chaos  # the timeline ends before 85 % of the run; an outage or a restart may still be running
        self.stopping = True
        for task in sockets:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*sockets)
        ok = await self.wind_down()
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        return 0 if self.report(ok) else 1

    async def wind_down(self) -> bool:
        """Unplug everything, clear every fault, let the journal deliver, stop the controller (SIGTERM)."""
        ctl = self.ctl
        assert ctl is not None
        if not ctl.alive():
            await self.start_controller()
        for ep in FAULTS:
            for cid in (1, 2) if ep.per_socket else (None,):
                await ctl.command(ep.off_cmd, **({"connector": cid} if cid else {}), **ep.off)
        for cid in (1, 2):
            await ctl.command("unplug", connector=cid)
        journal = self.state_dir / "journal.sqlite"
        end = time.monotonic() + 120
        delivered = False
        while time.monotonic() < end:
            delivered = _delivered(journal)
            if delivered:
                break
            await asyncio.sleep(1)
        self.sample()
        await ctl.close()
        self.log(f"controller stopped (exit {ctl.proc.returncode if ctl.proc else '?'}); journal delivered: {delivered}")
        return delivered

    def report(self, delivered: bool) -> bool:
        ok = delivered
        print("\n== soak: events")
        for name, n in sorted(self.counts.items()):
            print(f"   {name}: {n}")
        print("\n== RSS (MiB) and open fds over time")
        print("      t  main pid   RSS  fds   control pid   RSS  fds   written MB")
        for t, row in _rows(self.samples, self.written):
            print(f"   {t:5.0f}s {row}")
        print("\n== flat?")
        for kind in ("main", "control"):
            for what in ("rss", "fds"):
                f = flatness(self.samples, kind, what, self.duration)
                ok &= f.flat
                print(f"   {f.line()}")
        written = (write_bytes() or 0) - self.io_at_start
        elapsed = self.written[-1][0] if self.written else self.duration
        per_day = written / max(elapsed, 1.0) * 86400 / 2 / 1e6
        print("\n== bytes written (controller and children, /proc/PID/io write_bytes)")
        print(f"   {written / 1e6:.2f} MB in {elapsed:.0f} s = {per_day:.0f} MB/day per socket at this pace "
              f"(sessions, faults and restarts all the time; `make bench` measures a quiet day)")
        ctl = self.ctl
        if ctl is not None:
            print(f"   controller output (to the pipe, journald on the board): {ctl.output_bytes / 1e3:.0f} kB")
        rec = reconcile(_journal_transactions(self.state_dir / "journal.sqlite"), self.bo.transactions,
                        self.bo.duplicates)
        print("\n== journal against the back office")
        print(f"   {rec.journal} transactions in the journal, {rec.backoffice} at the back office; "
              f"resends absorbed by the back office: {rec.resends}")
        for p in rec.problems:
            print(f"   PROBLEM: {p}")
        ok &= rec.ok and rec.journal > 0
        if not delivered:
            print("   PROBLEM: the journal did not deliver everything within 120 s of the end")
        print(f"\nsoak {'PASSED' if ok else 'FAILED'}")
        if not ok and ctl is not None:
            print("-- last controller output --\n" + "\n".join(ctl.tail))
        return ok


def _reap(pids: list[int], bound_s: float = 10.0) -> None:
    """Wait for the killed main process's children, which this process inherited as their subreaper (their
    write_bytes are then added to ours). They leave by themselves when their channel closes; one still there
    after `bound_s` is killed, as systemd's KillMode=mixed would."""
    end = time.monotonic() + bound_s
    left = list(pids)
    while left:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not our child (no subreaper): its parent is init now
                done = pid
            if done:
                left.remove(pid)
        if left and time.monotonic() > end:
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            end = float("inf")
            print(f"children {left} still there {bound_s:g} s after the main process: SIGKILLed", flush=True)
        if left:
            time.sleep(0.05)


def _delivered(journal: Path) -> bool:
    """Nothing left in the outbox and no transaction open (read-only, beside the running controller)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)) as db:
            pending = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
            active = db.execute("SELECT COUNT(*) FROM transactions WHERE state!='done'").fetchone()[0]
    except sqlite3.Error:
        return False
    return pending == 0 and active == 0


def _journal_transactions(journal: Path) -> list[Any]:
    j = Journal(journal)
    try:
        return j.transactions()
    finally:
        j.close()


def _rows(samples: list[Sample], written: list[tuple[float, int]], every_s: float = 15.0) -> list[tuple[float, str]]:
    """One line per `every_s` seconds: the last sample of each kind at that time and the bytes written."""
    rows: list[tuple[float, str]] = []
    next_t = 0.0
    last: dict[str, Sample] = {}
    by_t = collections.defaultdict(list)
    for s in samples:
        by_t[round(s.t, 1)].append(s)
    for t, total in written:
        for s in by_t.get(round(t, 1), []):
            last[s.kind] = s
        if t + 1e-6 < next_t:
            continue
        next_t = t + every_s
        cells = []
        for kind in ("main", "control"):
            got = last.get(kind)
            cells.append(f"{got.pid:8d} {got.rss_kib / 1024:5.1f} {got.fds:4d}" if got else f"{'-':>8} {'-':>5} {'-':>4}")
        rows.append((t, f"{cells[0]}     {cells[1]}   {total / 1e6:9.2f}"))
    return rows


def _subreaper() -> None:
    """Become the subreaper of the controller's process tree (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("prctl(PR_SET_CHILD_SUBREAPER) failed: children of a killed main process are not counted", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("minutes", type=float, nargs="?", default=10.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the state directory")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    print(f"soak: {args.minutes:g} minutes on {BOARD}, seed {seed}", flush=True)
    _subreaper()
    state = Path(tempfile.mkdtemp(prefix="soak-", dir="/var/tmp"))  # a real disk: tmpfs counts no writes
    try:
        return asyncio.run(Soak(args.minutes, seed, state / "state").run())
    finally:
        if args.keep:
            print(f"state directory kept: {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
