"""Relays the Eichrecht meters' signed readings (OCMF records, `hal.ocmf`) into OCPP, as the keys say:

- `SignedDataEnabled`: at transaction begin and end the connector's signing meter signs its register; both
  records go into the StopTransaction.req `transactionData` (contexts Transaction.Begin / Transaction.End).
  Off: nothing is signed (and the other two keys do nothing).
- `SignedStartStopMeterValue`: each of the two records also goes out at once in a MeterValues.req of its own.
- `SignedMeterValueUpdates`: every periodic (Sample.Periodic) transaction MeterValues carries a fresh signed
  record too.
- `PublicKey-EnergyMeter1/2`: the public key of connector 1's / 2's meter (read-only; "" without one).

A signed value is a sampledValue with `format` SignedData, measurand Energy.Active.Import.Register and the
record, unchanged, as its `value`. Everything goes through the durable journal like StartTransaction and
StopTransaction (written before it is sent, survives a restart, never shed by the outbox cap). Switching a key
on where the board has no signing meter is Rejected ("Accepted" means applied). A meter that does not answer
costs the signed value (a trace line says so), never the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.clock import Clock
from controller.config.registry import ConfigRegistry
from controller.ocpp.link import installed_version
from controller.ports import SessionsPort, Settings, SocketsView
from controller.timefmt import format_time
from controller.transactions.journal import Journal
from hal.errors import DeviceError
from hal.ocmf import Gateway, identification_for
from hal.signing_meter import SigningMeter, build_signing_meters

if TYPE_CHECKING:
    from board.loader import Board

log = logging.getLogger(__name__)

OWNER = "metering"
SWITCH_KEYS = ("SignedDataEnabled", "SignedMeterValueUpdates", "SignedStartStopMeterValue")
PUBLIC_KEY_KEYS = {1: "PublicKey-EnergyMeter1", 2: "PublicKey-EnergyMeter2"}
CONFIG_KEYS = (*SWITCH_KEYS, *PUBLIC_KEY_KEYS.values())
CONTEXTS = {"B": "Transaction.Begin", "T": "Sample.Periodic", "E": "Transaction.End"}


def signed_sampled_value(record: str, context: str) -> dict[str, Any]:
    """The sampledValue that carries one OCMF record."""
    return {
        "value": record,
        "context": context,
        "format": "SignedData",
        "measurand": "Energy.Active.Import.Register",
        "location": "Outlet",
        "unit": "Wh",
    }


class SignedMeterValues:
    def __init__(
        self,
        meters: Mapping[int, SigningMeter],
        config: Settings,
        clock: Clock,
        journal: Journal,
        transaction_of: Callable[[int], int | None],
        notify_sender: Callable[[], None],
        log_line: Callable[[str], None] | None = None,
    ) -> None:
        self.meters = dict(meters)
        self.config = config
        self.clock = clock
        self.journal = journal
        self._transaction_of = transaction_of
        self._notify_sender = notify_sender
        self._log = log_line or (lambda s: None)

    @staticmethod
    def of(board: Board, state_dir: Path, identity: str, sockets: SocketsView, sessions: SessionsPort,
           registry: ConfigRegistry, clock: Clock, journal: Journal, notify_sender: Callable[[], None],
           log_line: Callable[[str], None]) -> SignedMeterValues:
        """The service of a station: the board's meters reading the sockets' registers, its keys bound."""
        return signed_meter_values(
            board.signing_meter, [c.id for c in board.connectors], state_dir, identity,
            lambda cid: sockets[cid].energy_wh, lambda cid: sessions.sessions[cid].local_tx, registry, clock, journal,
            notify_sender, log_line,
        )

    # -- keys ------------------------------------------------------------------------------------------------
    def bind(self, registry: ConfigRegistry) -> None:
        """Own the Eichrecht keys: the switches (refused without a meter) and the live public keys."""
        registry.bind(OWNER, SWITCH_KEYS, validator=self._refuse_without_meter)
        for cid, name in PUBLIC_KEY_KEYS.items():
            registry.bind(OWNER, (name,), live=lambda cid=cid: self.public_key(cid))  # type: ignore[misc]

    def _refuse_without_meter(self, value: str) -> str | None:
        if value.strip().lower() == "true" and not self.meters:
            return "this board has no Eichrecht (signing) meter"
        return None

    def public_key(self, cid: int) -> str:
        meter = self.meters.get(cid)
        if meter is None:
            return ""
        try:
            return meter.public_key()
        except DeviceError as exc:
            log.warning("connector %d: the Eichrecht meter's public key cannot be read (%s)", cid, exc)
            return ""

    def _on(self, key: str) -> bool:
        return bool(self.meters) and self.config.get_bool("SignedDataEnabled") and self.config.get_bool(key)

    # -- signing -----------------------------------------------------------------------------------------------
    def _sign(self, cid: int, local_tx: int, reason: str) -> dict[str, Any] | None:
        meter = self.meters.get(cid)
        if meter is None:
            return None
        rec = self.journal.transaction(local_tx)
        who = identification_for(rec.id_tag if rec is not None else None)
        try:
            record = meter.signed_reading(reason, who)
        except DeviceError as exc:
            self._log(f"connector {cid}: no signed {CONTEXTS[reason]} value, the Eichrecht meter failed ({exc})")
            return None
        except Exception as exc:  # noqa: BLE001 - a driver's bug costs the signed value, never the transaction
            log.exception("connector %d: the Eichrecht meter's driver failed", cid)
            self._log(f"connector {cid}: no signed {CONTEXTS[reason]} value, the meter's driver failed ({exc!r})")
            return None
        return signed_sampled_value(record, CONTEXTS[reason])

    def _start_stop(self, cid: int, reason: str) -> None:
        local_tx = self._transaction_of(cid)
        if local_tx is None or not self._on("SignedDataEnabled"):
            return
        value = self._sign(cid, local_tx, reason)
        if value is None:
            return
        meter_value = {"timestamp": format_time(self.clock.now()), "sampledValue": [value]}
        self.journal.add_transaction_data(local_tx, meter_value)
        if self._on("SignedStartStopMeterValue"):
            self.journal.add_meter_values(local_tx, cid, [meter_value])
            self._notify_sender()

    def begin(self, cid: int) -> None:
        """A transaction has started on `cid` (journalled): sign its begin."""
        self._start_stop(cid, "B")

    def end(self, cid: int) -> None:
        """The transaction on `cid` is about to be stopped: sign its end before the StopTransaction is journalled."""
        self._start_stop(cid, "E")

    def update(self, cid: int) -> list[dict[str, Any]]:
        """The signed value for a periodic MeterValues of the transaction on `cid` (SignedMeterValueUpdates)."""
        local_tx = self._transaction_of(cid)
        if local_tx is None or not self._on("SignedMeterValueUpdates"):
            return []
        value = self._sign(cid, local_tx, "T")
        return [value] if value is not None else []


def signed_meter_values(
    section: Mapping[str, Any],
    connector_ids: list[int],
    state_dir: Path,
    identity: str,
    energy_wh: Callable[[int], float],
    transaction_of: Callable[[int], int | None],
    registry: ConfigRegistry,
    clock: Clock,
    journal: Journal,
    notify_sender: Callable[[], None],
    log_line: Callable[[str], None] | None = None,
) -> SignedMeterValues:
    """The service for the board's [signing_meter] section (no meters without one), its keys bound in `registry`
    (the configuration registry: the service reads the keys from it and owns them there)."""
    gateway = Gateway(identity, identity, installed_version())  # GV: the software version BootNotification reports
    meters = build_signing_meters(section, connector_ids, state_dir, energy_wh, clock.now, gateway)
    service = SignedMeterValues(meters, registry, clock, journal, transaction_of, notify_sender, log_line)
    service.bind(registry)
    return service
