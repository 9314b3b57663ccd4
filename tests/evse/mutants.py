"""`make mutate`: a hand-listed set of mutants of the safety modules (a comparison flipped, a line dropped,
a check weakened), each applied to a temporary copy of the source tree and run against the tests that must
kill it. Prints killed/survived per mutant; exits 1 if any survived. The working tree is never modified.

Run as `python -m tests.evse.mutants [name ...]` (a name picks mutants whose name contains it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("controller", "hal", "board", "tests", "hil", "pyproject.toml")

T = "tests/evse/"


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTANTS: tuple[Mutant, ...] = (
    # limits.py
    Mutant("overcurrent ignores NaN", "controller/evse/limits.py",
           "any(not c <= limit for c in currents)", "any(c > limit for c in currents)",
           (T + "test_defects.py::test_nan_never_hides_an_overcurrent",)),
    Mutant("ContactorProtect allows only 9", "controller/evse/limits.py",
           "return self.count(now, window_s) > self.limit", "return self.count(now, window_s) >= self.limit",
           (T + "test_scenarios.py::test_contactor_protect_11_vs_10",)),
    Mutant("no 5 s reaction window", "controller/evse/limits.py",
           "return max(self._offer, self._ended[0][1]) if self._ended else self._offer", "return self._offer",
           (T + "test_scenarios.py::test_overcurrent_allows_the_cars_5_s_reaction", T + "test_limits_tables.py")),
    Mutant("Chameleon floor at the minimum", "controller/evse/limits.py",
           "if active and offer_a < min_a:", "if active and offer_a <= min_a:",
           (T + "test_scenarios.py::test_ze_ready_never_offers_less_than_the_chameleon_minimum",
            T + "test_limits_tables.py")),
    # connector.py
    Mutant("close without the lock confirmed", "controller/evse/connector.py",
           "lock_confirmed=self._lock_confirmed(inp),", "lock_confirmed=True,",
           (T + "test_defects.py::test_no_close_before_the_lock_confirmed",)),
    Mutant("lock follows the command, not the contacts", "controller/evse/connector.py",
           "locked = locked or closed or not self._contacts_open(inp, currents)", "locked = locked or closed",
           (T + "test_defects.py::test_a_welded_contactor_keeps_the_lock_and_reports_f",)),
    Mutant("close without the diode seen", "controller/evse/connector.py",
           "diode_seen=self._diode_seen,", "diode_seen=True,",
           (T + "test_defects.py::test_no_close_in_the_tick_the_pwm_first_comes_on",)),
    Mutant("D without ventilation not an error", "controller/evse/connector.py",
           "self._latched.add(Fault.VENTILATION)", "pass",
           (T + "test_defects.py::test_state_d_without_ventilation_is_an_error",)),
    Mutant("ContactorProtect counts station pauses", "controller/evse/connector.py",
           "            if pwm_was_on:\n                self._switches.record(now)",
           "            if True:\n                self._switches.record(now)",
           (T + "test_defects.py::test_pauses_the_station_causes_are_not_counted",)),
    Mutant("restart forgets a residual current trip", "controller/evse/connector.py",
           "self._rcd.restore_trip(now if now is not None else self._start)", "pass",
           (T + "test_defects.py::test_a_latched_fault_outlives_a_restart",)),
    Mutant("a lost meter never suspends", "controller/evse/connector.py",
           "return {Fault.METER, Fault.METER_LOST}", "return {Fault.METER}",
           (T + "test_defects.py::test_a_lost_meter_suspends_and_resumes",)),
    Mutant("a weld on the meter unseen", "controller/evse/connector.py",
           "        weld = self._contactor_sup.check_current(now, currents)\n", "        weld = None\n",
           (T + "test_defects.py::test_weld_without_a_mirror_is_seen_by_the_meter",)),
    Mutant("a single +12 V sample clears latches", "controller/evse/connector.py",
           "if state is EvseState.A and (prev is not EvseState.A or", "if (self._debounce.pilot_lost or",
           (T + "test_scenarios.py::test_a_single_12v_sample_clears_no_latch",)),
    # rcd.py
    Mutant("close with the self-test outstanding", "controller/evse/rcd.py",
           "return self.self_test is SelfTest.PASSED", "return self.self_test in (SelfTest.PASSED, SelfTest.NEEDED)",
           (T + "test_supervisors.py",)),
    Mutant("Immediate waits like Smart", "controller/evse/rcd.py",
           "if mode is RcdMode.IMMEDIATE or not charging_state:", "if not charging_state:",
           (T + "test_supervisors.py",)),
    Mutant("an unreadable monitor keeps its old self-test", "controller/evse/rcd.py",
           "        if self.self_test is SelfTest.PASSED:\n            self.self_test = SelfTest.NEEDED\n",
           "        pass\n",
           (T + "test_device_faults.py::test_a_monitor_that_was_unreadable_is_tested_again_before_a_close",)),
    # station.py
    Mutant("no hard temperature limit", "controller/evse/station.py",
           "high = min(c.temperature_high_c, HARD_TEMPERATURE_MAX_C)", "high = c.temperature_high_c",
           (T + "test_config_and_station.py::test_hard_temperature_limit_stays_behind_the_key",)),
    Mutant("tilt at the threshold", "controller/evse/station.py",
           "if rel > s.tilt_threshold_deg:", "if rel >= s.tilt_threshold_deg:",
           (T + "test_config_and_station.py",)),
    Mutant("tilt calibrated as a scalar", "controller/evse/station.py",
           "return round(angle_deg(st.tilt_vector, cal), 6)",
           "return abs(angle_deg(st.tilt_vector, (0.0, 0.0, 1.0)) - angle_deg(cal, (0.0, 0.0, 1.0)))",
           (T + "test_config_and_station.py",)),
    # phaseswitch.py and the loop's use of it
    Mutant("phase relay moves with the contacts closed", "controller/evse/phaseswitch.py",
           "quiet = inp.contacts_open and not inp.contactor_closed and not self._drawing(inp.currents)",
           "quiet = not self._drawing(inp.currents)",
           (T + "test_phase_switch.py", T + "test_phase_switch_loop.py")),
    Mutant("phase relay feedback not checked", "controller/evse/phaseswitch.py",
           "if inp.feedback == self.relay or (inp.feedback is None and now - self.commanded_at >= s.feedback_timeout_s):",
           "if True:",
           (T + "test_phase_switch.py", T + "test_phase_switch_loop.py")),
    Mutant("no settle time after a phase switch", "controller/evse/phaseswitch.py",
           "elif st is Step.SETTLING and now - self.since >= s.settle_s:", "elif st is Step.SETTLING:",
           (T + "test_phase_switch.py", T + "test_phase_switch_loop.py")),
    Mutant("PWM offered during a phase switch", "controller/evse/loop.py",
           "offer = not out.pause and wanted in (0, out.relay)", "offer = wanted in (0, out.relay)",
           (T + "test_phase_switch_loop.py",)),
    # devio.py
    Mutant("an unreadable RCD monitor raises no fault", "controller/evse/devio.py",
           '"rcd": (False, Fault.RCD_MONITOR),', '"rcd": (False, None),',
           (T + "test_device_faults.py",)),
    Mutant("readings not validated", "controller/evse/devio.py",
           "        return check(fn())\n", "        return fn()\n",
           (T + "test_device_faults.py", T + "test_defects.py")),
    Mutant("a close written after a watchdog trip", "controller/evse/devio.py",
           "if out.contactor and results.get(cid, True) and may_close():",
           "if out.contactor and results.get(cid, True):",
           (T + "test_failsafe.py",)),
)


def run(m: Mutant) -> tuple[bool, float]:
    """(killed, seconds). A mutant with `old` empty changes nothing (the baseline: the tests must pass)."""
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        for name in COPIED:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, Path(tmp) / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
            else:
                shutil.copy2(src, Path(tmp) / name)
        if m.old:
            target = Path(tmp) / m.path
            text = target.read_text()
            if text.count(m.old) != 1:
                raise SystemExit(f"mutant {m.name!r}: {m.old!r} occurs {text.count(m.old)} times in {m.path}")
            target.write_text(text.replace(m.old, m.new))
        env = dict(os.environ, PYTHONPATH=tmp, PYTHONDONTWRITEBYTECODE="1")
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
            cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return proc.returncode != 0, time.monotonic() - t0


def main(argv: list[str]) -> int:
    chosen = [m for m in MUTANTS if not argv or any(a in m.name for a in argv)]
    tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
    failed, secs = run(Mutant("baseline", "", "", "", tests))
    if failed:
        print(f"the unmutated tree fails the tests ({secs:.1f} s): fix that first", flush=True)
        return 2
    print(f"baseline: the unmutated tree passes {len(tests)} test selections ({secs:.1f} s)", flush=True)
    survived = 0
    for m in chosen:
        killed, secs = run(m)
        survived += not killed
        print(f"{'killed  ' if killed else 'SURVIVED'} {m.path:32} {m.name} ({secs:.1f} s)", flush=True)
    print(f"mutants: {len(chosen) - survived} killed, {survived} survived of {len(chosen)}", flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
