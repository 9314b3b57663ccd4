"""The physical HIL rig (docs/hil-rig.md): the car side of one socket, built from relays, a load bank, a tilt
stage and a card presenter, driven by the rig's own Raspberry Pi through gpiozero. `RealRig` answers the same
`command(cmd, **args)` vocabulary as the virtual rig, so the scenario bodies (hil/scenarios.py) run unchanged.

The car is emulated the way IEC 61851-1 Annex A describes it: plugging (K1) puts the diode and 2.74 kOhm on the
pilot (state B, +9 V) and the cable's 220 Ohm coding resistor on PP; while the rig's PWM detector sees the
board's pilot oscillate, the rig closes S2 (K2: 1.3 kOhm in parallel, state C, +6 V) and connects the load
bank (K6), which draws its rated current through the board's contactor and meter. The rest is what a
scenario asks for: a 6 mA DC test current through the RCD's sensor (K5), the pilot shorted to PE (K3) or the
diode bypassed (K4), the board's temperature sensor swapped for one on a block held hot (K7), the card
presenter (K8: closes the antenna loop of the rig's MIFARE card) and the tilt stage (a servo).

`status` is what the rig itself sees: the board's contactor through an auxiliary contact (contactor sense
input), the current its load bank draws while that contactor is closed (and the energy it integrates), and the
OCPP status the station last reported to the back office the station talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gpiozero import AngularServo, DigitalInputDevice, DigitalOutputDevice


class Records(Protocol):
    """The back office the station under test reports to (controller/backoffice/server.py's BackOffice)."""

    records: list[Any]


@dataclass(frozen=True)
class RigWiring:
    """The rig Pi's pins (BCM) and the rig's ratings; docs/hil-rig.md has the schematic."""

    cp_plug: int = 5  # K1: CP diode + 2.74 kOhm, PP 220 Ohm (a 32 A cable)
    cp_s2: int = 6  # K2: 1.3 kOhm in parallel (S2: state C)
    cp_short: int = 13  # K3: CP to PE (state E)
    diode_bypass: int = 19  # K4: the diode shorted (no -12 V low phase)
    rcd_test: int = 26  # K5: 6 mA DC through the RCD sensor
    load: int = 16  # K6: the load bank behind the board's contactor and meter
    hot_sensor: int = 20  # K7: the board's I2C thermometer swapped for the one on the hot block
    card: int = 21  # K8: the card presenter
    tilt_servo: int = 12  # hardware PWM0: the tilt stage's servo (-90..90 degrees)
    pwm_detect: int = 23  # input: high while the pilot carries PWM (comparator + RC)
    contactor_sense: int = 24  # input: high while the board's contactor is closed (auxiliary contact)
    relay_active_high: bool = False  # the usual opto-isolated relay boards switch on a low input
    load_a: float = 16.0  # per phase, three phases
    phase_v: float = 230.0
    hot_c: float = 95.0  # the hot block's thermostat
    card_uid: str = "04A224B2C31D80"  # the rig's MIFARE card (the back office must know it)
    card_pulse_s: float = 1.0
    ev_period_s: float = 0.01


RELAYS = ("cp_plug", "cp_s2", "cp_short", "diode_bypass", "rcd_test", "load", "hot_sensor", "card")


class RealRig:
    identity = "HIL"

    def __init__(
        self,
        backoffice: Records,
        identity: str = "HIL",
        wiring: RigWiring | None = None,
        pin_factory: Any = None,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bo = backoffice
        self.identity = identity
        self.wiring = w = wiring or RigWiring()
        self._now, self._sleep = now, sleep
        self.relays = {
            name: DigitalOutputDevice(getattr(w, name), active_high=w.relay_active_high, initial_value=False,
                                      pin_factory=pin_factory)
            for name in RELAYS
        }
        self.servo = AngularServo(w.tilt_servo, initial_angle=0.0, min_angle=-90, max_angle=90, pin_factory=pin_factory)
        self.pwm_detect = DigitalInputDevice(w.pwm_detect, pin_factory=pin_factory)
        self.contactor_sense = DigitalInputDevice(w.contactor_sense, pin_factory=pin_factory)
        self.plugged = False
        self.energy_wh = 0.0
        self._last = now()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- the car ---------------------------------------------------------------------------------------------
    def step(self) -> None:
        """One look of the emulated car: S2 and the load follow the PWM; the energy the load bank drew."""
        t = self._now()
        dt, self._last = t - self._last, t
        if self.contactor_sense.is_active and self.relays["load"].is_active:
            self.energy_wh += 3 * self.wiring.load_a * self.wiring.phase_v * dt / 3600.0
        charge = self.plugged and self.pwm_detect.is_active and not self.relays["cp_short"].is_active
        self._set("cp_s2", charge)
        self._set("load", charge)

    async def _run(self) -> None:
        while True:
            self.step()
            await self._sleep(self.wiring.ev_period_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    def _set(self, relay: str, on: bool) -> None:
        dev = self.relays[relay]
        if bool(dev.is_active) != on:
            dev.value = on

    # -- the vocabulary of the rigs --------------------------------------------------------------------------
    async def command(self, cmd: str, **args: Any) -> dict[str, Any]:
        if args.get("connector", 1) != 1:
            return {"ok": False, "error": "this rig emulates the car of connector 1 only"}
        handler = getattr(self, f"_cmd_{cmd}", None)
        if handler is None:
            return {"ok": False, "error": f"the real rig cannot {cmd!r}"}
        reply: dict[str, Any] = await handler(**{k: v for k, v in args.items() if k != "connector"})
        return {"ok": True, **reply}

    async def _cmd_plug(self, ev: dict[str, Any] | None = None) -> dict[str, Any]:
        self.plugged = True
        self._set("cp_plug", True)
        return {"load_a": self.wiring.load_a}  # a resistive load bank draws its rating, whatever `ev` asks

    async def _cmd_unplug(self) -> dict[str, Any]:
        self.plugged = False
        for relay in ("cp_s2", "load", "cp_plug"):
            self._set(relay, False)
        return {}

    async def _cmd_tag(self, uid: str = "") -> dict[str, Any]:
        self._set("card", True)
        await self._sleep(self.wiring.card_pulse_s)
        self._set("card", False)
        return {"uid": self.wiring.card_uid}

    async def _cmd_rcd(self, trip: bool = True) -> dict[str, Any]:
        self._set("rcd_test", bool(trip))
        return {}

    async def _cmd_temperature(self, celsius: float = 25.0) -> dict[str, Any]:
        hot = celsius >= self.wiring.hot_c - 10  # two sensors: ambient, or the block at `hot_c`
        self._set("hot_sensor", hot)
        return {"celsius": self.wiring.hot_c if hot else None}

    async def _cmd_tilt(self, degrees: float = 0.0) -> dict[str, Any]:
        self.servo.angle = max(-90.0, min(90.0, float(degrees)))
        return {"degrees": self.servo.angle}

    async def _cmd_ev_misbehave(self, shorted: bool | None = None, diode_missing: bool | None = None) -> dict[str, Any]:
        if shorted is not None:
            self._set("cp_short", shorted)
        if diode_missing is not None:
            self._set("diode_bypass", diode_missing)
        return {}

    async def _cmd_status(self) -> dict[str, Any]:
        self.step()
        status, error = "Unknown", "NoError"
        for r in self.bo.records:
            if (r.cp_id == self.identity and r.direction == "in" and r.action == "StatusNotification"
                    and r.payload.get("connectorId") == 1):
                status, error = r.payload["status"], r.payload.get("errorCode", "NoError")
        closed = bool(self.contactor_sense.is_active)
        amps = self.wiring.load_a if closed and self.relays["load"].is_active else 0.0
        return {"connectors": [{"id": 1, "ocpp_status": status, "error_code": error,
                                "contactor": "closed" if closed else "open", "currents": [amps] * 3,
                                "energy_wh": self.energy_wh, "plugged": self.plugged}]}

    async def close(self) -> None:
        """Every relay off (the car unplugged, no test current, no load), then the lines released."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for dev in self.relays.values():
            dev.off()
            dev.close()
        for d in (self.servo, self.pwm_detect, self.contactor_sense):
            d.close()
