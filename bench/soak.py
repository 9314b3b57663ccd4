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
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocpp.v16 import call

from bench.soak_process import BOARD, IDENTITY, Controller, become_subreaper, reap
from bench.soak_report import Sample, fd_count, flatness, proc_status_kib, reconcile, table_rows, write_bytes
from controller.backoffice.server import BackOffice
from controller.evse.supervisor import MAX_RESTARTS, RESTART_WINDOW_S
from controller.transactions.journal import Journal

SAMPLE_S = 5.0
MIN_JUDGED_S = 120.0  # shorter runs print RSS and fds but cannot tell a leak from the warm-up
RESTART_SEC = 2.0  # the unit's RestartSec=
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
        await asyncio.to_thread(reap, orphans)
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
        # unplugging ends a session (the key's default, false, lets the transaction go on until the card comes back)
        await self.bo.call(IDENTITY, call.ChangeConfiguration(key="StopTransactionOnEVSideDisconnect", value="true"))
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
                await self._until_ok(ep.off_cmd, **({"connector": cid} if cid else {}), **ep.off)
        for cid in (1, 2):
            await self._until_ok("unplug", connector=cid)
            tx = await self._transaction(cid)
            if tx is not None:  # started after a restart whose plant had the car unplugged already: counted
                self.counts["transactions still running after the last unplug (stopped remotely)"] += 1
                with contextlib.suppress(Exception):
                    await self.bo.call(IDENTITY, call.RemoteStopTransaction(transaction_id=tx), 10)
        journal = self.state_dir / "journal.sqlite"
        end = time.monotonic() + 120
        delivered = False
        while time.monotonic() < end:
            delivered = _delivered(journal)
            if delivered:
                break
            await asyncio.sleep(1)
        if not delivered:
            self.log(f"not delivered; the station says: {await ctl.command('status')}")
        self.sample()
        await ctl.close()
        self.log(f"controller stopped (exit {ctl.proc.returncode if ctl.proc else '?'}); journal delivered: {delivered}")
        return delivered

    async def _until_ok(self, cmd: str, **args: Any) -> bool:
        """A sim command that must take effect (the control process may be restarting): tried for 30 s."""
        assert self.ctl is not None
        end = time.monotonic() + 30
        while True:
            reply = await self.ctl.command(cmd, **args)
            if reply.get("ok"):
                return True
            if time.monotonic() > end:
                self.log(f"{cmd} {args}: {reply.get('error')}")
                return False
            await asyncio.sleep(0.5)

    def report(self, delivered: bool) -> bool:
        ok = delivered
        print("\n== soak: events")
        for name, n in sorted(self.counts.items()):
            print(f"   {name}: {n}")
        print("\n== RSS (MiB) and open fds over time")
        print("      t  main pid   RSS  fds   control pid   RSS  fds   written MB")
        for t, row in table_rows(self.samples, self.written):
            print(f"   {t:5.0f}s {row}")
        print("\n== flat?")
        for kind in ("main", "control"):
            for what in ("rss", "fds"):
                f = flatness(self.samples, kind, what, self.duration)
                judged = self.duration >= MIN_JUDGED_S
                ok &= f.flat or not judged
                print(f"   {f.line()}" + ("" if judged else f" (not judged: a run under {MIN_JUDGED_S:.0f} s)"))
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("minutes", type=float, nargs="?", default=10.0)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the state directory")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    print(f"soak: {args.minutes:g} minutes on {BOARD}, seed {seed}", flush=True)
    become_subreaper()
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
