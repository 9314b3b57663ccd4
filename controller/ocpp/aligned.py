"""When meter values are taken and where they go: sampled (per transaction), clock-aligned, central (grid) meter,
and the durable "last alive" record. One loop on the injected clock, waking at the next due time (at least
every second, so new transactions and changed keys are picked up).

- Sampled: every MeterValueSampleInterval seconds counted from the transaction's start (0: off), measurands of
  MeterValuesSampledData, context Sample.Periodic, journalled as transaction MeterValues. With
  MaxTxMeterValueRandomisationTime > 0 the message is held back a random 0..N seconds (the sample keeps the
  time it was taken; the journal keeps the order).
- Clock-aligned: every ClockAlignedDataInterval seconds aligned to the wall clock from midnight UTC
  (900 -> :00, :15, :30, :45), measurands of MeterValuesAlignedData, context Sample.Clock; journalled when the
  connector has a transaction, otherwise sent at once as a non-transaction MeterValues (dropped when offline).
- StopTxnSampledData / StopTxnAlignedData: the same ticks (plus Transaction.Begin) collect the measurands of
  those keys for the transactionData of StopTransaction.req (`Journal.add_transaction_data`).
- Central meter values (`station.devices.grid_meter`, connectorId 0, location Inlet): every
  CentralMeterValueSampleInterval seconds (0: off), aligned to the clock (Clock) or to our start (Boot);
  CentralMeterValueTransmissionMode Always, During (only while a transaction runs) or End (one reading when a
  transaction ends). Non-transaction messages: sent when online, not queued.
- Last alive: every `ALIVE_INTERVAL_S` the wall time and each active transaction's meter reading are committed
  (without an fsync of their own), for Power Outage Recovery after a power cut. 60 s, not 10 s: flash wear
  (issue 11; `make bench` prints the bytes written per day) against a PowerLoss stop time at most a minute early.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ocpp.v16 import call

from controller.clock import Clock
from controller.ocpp.meter_values import sampled_values
from controller.timefmt import format_time
from controller.transactions.journal import Journal

log = logging.getLogger(__name__)

ALIVE_INTERVAL_S = 60.0
MAX_TICK_S = 1.0
MAX_DIRECT_IN_FLIGHT = 8
#: The meter value keys this service applies; a change of the first five re-plans the schedule at once.
SCHEDULE_KEYS = ("MeterValueSampleInterval", "ClockAlignedDataInterval", "CentralMeterValueSampleInterval",
                 "CentralMeterValueAlignment", "CentralMeterValueTransmissionMode")
CONFIG_KEYS = (*SCHEDULE_KEYS, "MaxTxMeterValueRandomisationTime", "MeterValuesAlignedData", "MeterValuesSampledData",
               "RegisterMeterValuesIncludePhases", "StopTxnAlignedData", "StopTxnSampledData")
CENTRAL_MEASURANDS = (
    "Energy.Active.Import.Register",
    "Power.Active.Import",
    "Current.Import.L1",
    "Current.Import.L2",
    "Current.Import.L3",
    "Voltage.L1-N",
    "Voltage.L2-N",
    "Voltage.L3-N",
)


def next_aligned(now: float, interval: int) -> float:
    """The first wall-clock instant after `now` (epoch s) that is a multiple of `interval` from midnight UTC."""
    day = math.floor(now / 86400.0) * 86400.0
    k = math.floor((now - day) / interval) + 1
    t = day + k * interval
    return min(t, day + 86400.0)


@dataclass
class _Tx:
    local_tx: int
    connector_id: int
    started_at: float  # monotonic
    next_sample: float  # monotonic
    interval: int


class MeterService:
    def __init__(
        self,
        config: Any,
        clock: Clock,
        journal: Journal,
        link: Any,
        sessions: Any,
        sample: Callable[[int], dict[str, Any] | None],
        grid_meter: Any,
        notify_sender: Callable[[], None],
        log_line: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.journal = journal
        self.link = link
        self.sessions = sessions
        self.sample = sample
        self.grid_meter = grid_meter
        self._notify_sender = notify_sender
        self._log = log_line or (lambda s: None)
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._txs: dict[int, _Tx] = {}
        self._boot = clock.monotonic()
        self._next_aligned: float | None = None
        self._aligned_interval = 0
        self._next_central: float | None = None  # wall (Clock) or monotonic (Boot)
        self._central_key: tuple[int, str] = (0, "")
        self._next_alive = clock.monotonic()
        self._direct: set[asyncio.Task[Any]] = set()
        self.signed_sample: Callable[[int], list[dict[str, Any]]] = lambda cid: []  # SignedMeterValueUpdates
        self.direct_sent = 0
        self.direct_dropped = 0

    def changed(self, *_: Any) -> None:
        """A meter value key changed: recompute the schedule."""
        for tx in self._txs.values():
            tx.interval = -1
        self._aligned_interval = -1
        self._central_key = (-1, "")
        self._wake.set()

    # -- configuration ---------------------------------------------------------------------------------------
    def _int(self, name: str, default: int = 0) -> int:
        try:
            return int(self.config.get_int(name))
        except (KeyError, ValueError):
            return default

    def _list(self, name: str) -> list[str]:
        try:
            return list(self.config.get_list(name))
        except KeyError:
            return []

    def _str(self, name: str, default: str = "") -> str:
        try:
            return str(self.config.get(name))
        except KeyError:
            return default

    def _include_phases(self) -> bool:
        try:
            return bool(self.config.get_bool("RegisterMeterValuesIncludePhases"))
        except (KeyError, ValueError):
            return False

    # -- the loop --------------------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                wait = self.tick()
            except Exception:  # noqa: BLE001 - a meter value problem must not stop the schedule
                log.exception("meter value schedule failed")
                wait = MAX_TICK_S
            self._wake.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(max(0.0, wait)))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    def tick(self) -> float:
        """Do whatever is due now; return the seconds until the next thing is due (at most MAX_TICK_S)."""
        mono = self.clock.monotonic()
        wall = self.clock.now().timestamp()
        dues = [mono + MAX_TICK_S]
        self._track_transactions(mono, wall)
        dues.extend(self._sampled(mono, wall))
        dues.extend(self._aligned(mono, wall))
        dues.extend(self._central(mono, wall))
        dues.append(self._alive(mono, wall))
        return max(0.0, min(dues) - mono)

    # -- transactions ----------------------------------------------------------------------------------------
    def _track_transactions(self, mono: float, wall: float) -> None:
        active: dict[int, Any] = {
            s.local_tx: s for s in self.sessions.sessions.values() if s.local_tx is not None
        }
        for local_tx, s in active.items():
            if local_tx not in self._txs:
                started = float(s.started_at or 0.0) or mono
                self._txs[local_tx] = _Tx(local_tx, s.connector_id, started, started, -1)
                stop_sampled = self._list("StopTxnSampledData")
                if stop_sampled:
                    self._collect(local_tx, s.connector_id, stop_sampled, "Transaction.Begin", wall)
        for local_tx in [t for t in self._txs if t not in active]:
            self._txs.pop(local_tx)
            if self._int("CentralMeterValueSampleInterval") > 0 and self._str(
                "CentralMeterValueTransmissionMode"
            ) == "End":
                self._send_central(wall, "Transaction.End")

    def _sampled(self, mono: float, wall: float) -> list[float]:
        interval = self._int("MeterValueSampleInterval")
        dues: list[float] = []
        if interval <= 0:
            return dues
        for tx in self._txs.values():
            if tx.interval != interval:
                k = max(1, math.floor((mono - tx.started_at) / interval) + 1)
                tx.next_sample = tx.started_at + k * interval
                tx.interval = interval
            if mono + 1e-9 >= tx.next_sample:
                self._take_sampled(tx, wall)
                k = math.floor((mono - tx.started_at) / interval) + 1
                tx.next_sample = tx.started_at + k * interval
            dues.append(tx.next_sample)
        return dues

    def _take_sampled(self, tx: _Tx, wall: float) -> None:
        sample = self.sample(tx.connector_id)
        if sample is None:
            return
        include = self._include_phases()
        values = sampled_values(sample, self._list("MeterValuesSampledData"), "Sample.Periodic", include)
        values += self.signed_sample(tx.connector_id)
        if values:
            spread = self._int("MaxTxMeterValueRandomisationTime")
            not_before = wall + self._rng.uniform(0, spread) if spread > 0 else 0.0
            self.journal.add_meter_values(
                tx.local_tx,
                tx.connector_id,
                [{"timestamp": format_time(wall), "sampledValue": values}],
                not_before=not_before,
                energy_wh=sample.get("energy_wh"),
            )
            self._notify_sender()
        stop_sampled = self._list("StopTxnSampledData")
        if stop_sampled:
            self._collect(tx.local_tx, tx.connector_id, stop_sampled, "Sample.Periodic", wall, sample)

    def _collect(
        self, local_tx: int, cid: int, measurands: list[str], context: str, wall: float,
        sample: dict[str, Any] | None = None,
    ) -> None:
        sample = sample if sample is not None else self.sample(cid)
        if sample is None:
            return
        values = sampled_values(sample, measurands, context, self._include_phases())
        if values:
            self.journal.add_transaction_data(local_tx, {"timestamp": format_time(wall), "sampledValue": values})

    # -- clock-aligned ---------------------------------------------------------------------------------------
    def _aligned(self, mono: float, wall: float) -> list[float]:
        interval = self._int("ClockAlignedDataInterval")
        if interval <= 0:
            self._next_aligned = None
            return []
        if self._next_aligned is None or self._aligned_interval != interval:
            self._next_aligned = next_aligned(wall, interval)
            self._aligned_interval = interval
        if wall + 1e-6 >= self._next_aligned:
            self._take_aligned(self._next_aligned)
            self._next_aligned = next_aligned(max(wall, self._next_aligned), interval)
        return [mono + (self._next_aligned - wall)]

    def _take_aligned(self, at: float) -> None:
        measurands = self._list("MeterValuesAlignedData")
        stop_aligned = self._list("StopTxnAlignedData")
        if not measurands and not stop_aligned:
            return
        include = self._include_phases()
        by_connector = {tx.connector_id: tx for tx in self._txs.values()}
        for cid in sorted(self.sessions.sessions):
            sample = self.sample(cid)
            if sample is None:
                continue
            tx = by_connector.get(cid)
            values = sampled_values(sample, measurands, "Sample.Clock", include) if measurands else []
            mv = {"timestamp": format_time(at), "sampledValue": values}
            if values and tx is not None:
                self.journal.add_meter_values(tx.local_tx, cid, [mv], energy_wh=sample.get("energy_wh"))
                self._notify_sender()
            elif values:
                self._send_direct(call.MeterValues(connector_id=cid, meter_value=[mv]))
            if stop_aligned and tx is not None:
                sv = sampled_values(sample, stop_aligned, "Sample.Clock", include)
                if sv:
                    self.journal.add_transaction_data(tx.local_tx, {"timestamp": format_time(at), "sampledValue": sv})

    # -- central (grid) meter --------------------------------------------------------------------------------
    def _central(self, mono: float, wall: float) -> list[float]:
        interval = self._int("CentralMeterValueSampleInterval")
        mode = self._str("CentralMeterValueTransmissionMode", "During")
        alignment = self._str("CentralMeterValueAlignment", "Clock")
        if interval <= 0 or self.grid_meter is None or mode == "End":
            self._next_central = None
            return []
        key = (interval, alignment)
        clock_aligned = alignment == "Clock"
        now = wall if clock_aligned else mono
        if self._next_central is None or self._central_key != key:
            self._central_key = key
            if clock_aligned:
                self._next_central = next_aligned(wall, interval)
            else:
                k = math.floor((mono - self._boot) / interval) + 1
                self._next_central = self._boot + k * interval
        if now + 1e-6 >= self._next_central:
            at = self._next_central if clock_aligned else wall
            if mode == "Always" or self._txs:
                self._send_central(at, "Sample.Clock" if clock_aligned else "Sample.Periodic")
            if clock_aligned:
                self._next_central = next_aligned(max(wall, self._next_central), interval)
            else:
                k = math.floor((mono - self._boot) / interval) + 1
                self._next_central = self._boot + k * interval
        return [mono + (self._next_central - now)]

    def central_sample(self) -> dict[str, Any] | None:
        try:
            r = self.grid_meter.read()
        except Exception as exc:  # noqa: BLE001 - a silent grid meter: no central value this time
            self._log(f"central meter not read: {exc}")
            return None
        return {
            "currents": list(r.currents_a),
            "voltages": list(r.voltages_v),
            "power_w": r.power_w,
            "energy_wh": r.energy_wh,
            "frequency_hz": r.frequency_hz,
        }

    def _send_central(self, at: float, context: str) -> None:
        if self.grid_meter is None:
            return
        sample = self.central_sample()
        if sample is None:
            return
        values = sampled_values(sample, CENTRAL_MEASURANDS, context, False, location="Inlet")
        self._send_direct(call.MeterValues(connector_id=0, meter_value=[{"timestamp": format_time(at), "sampledValue": values}]))

    def _send_direct(self, request: Any) -> None:
        """A non-transaction MeterValues: now if online, else (or when too many are in flight) dropped."""
        if not self.link.online or len(self._direct) >= MAX_DIRECT_IN_FLIGHT:
            self.direct_dropped += 1
            return

        async def send() -> None:
            try:
                await self.link.call(request)
                self.direct_sent += 1
            except Exception as exc:  # noqa: BLE001 - not a transaction message: not retried
                self.direct_dropped += 1
                self._log(f"MeterValues (connector {request.connector_id}) not delivered: {exc.__class__.__name__}")

        task = asyncio.ensure_future(send())
        self._direct.add(task)
        task.add_done_callback(self._direct.discard)

    # -- last alive ------------------------------------------------------------------------------------------
    def _alive(self, mono: float, wall: float) -> float:
        if mono + 1e-9 >= self._next_alive:
            self.touch_alive(wall)
            self._next_alive = mono + ALIVE_INTERVAL_S
        return self._next_alive

    def touch_alive(self, wall: float | None = None) -> None:
        wall = self.clock.now().timestamp() if wall is None else wall
        meters: dict[int, float] = {}
        for s in self.sessions.sessions.values():
            if s.local_tx is not None:
                sample = self.sample(s.connector_id)
                if sample is not None and sample.get("energy_wh") is not None:
                    meters[s.local_tx] = float(sample["energy_wh"])
        with contextlib.suppress(Exception):
            self.journal.touch_alive(wall, meters)

    async def stop(self) -> None:
        for t in list(self._direct):
            t.cancel()
