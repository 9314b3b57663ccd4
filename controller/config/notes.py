"""What `chargepoint keys` says about keys whose documented behaviour this controller does not (fully)
carry out, as data: key -> note. Keys for absent hardware carry `hardware_note` in keys.py instead.
A test checks that every writable key is either used by some module or explained here."""

from __future__ import annotations

NO_SCN = "stored; the Smart Charging Network (load balancing between several stations) is not built yet"
NO_SERVICE_LOGIN = "stored; this controller has no local service-installer login (Secure Service Access)"

NOTES: dict[str, str] = {
    "OfflineAuthorise": "obsolete: a write sets LocalAuthorizeOffline (as the document says it was replaced)",
    "OnlineAuthorise": "obsolete: a write sets LocalPreAuthorize to the opposite value (true = always ask the back office)",
    "NFC-Version2": "empty: this board has one card reader",
    "SmartChargingMode": "stored; only meaningful with OCPP 1.5, this station speaks 1.6J (SmartCharging profile)",
    "MBTCPSmart-IPAddress": "reported only; the meter's address comes from the board file's [grid_meter]",
    "MBTCPSmart-SlaveUnitID": "reported only; the meter's unit id comes from the board file's [grid_meter]",
    "MBTCPCentral-IPAddress": "reported only; the meter's address comes from the board file's [grid_meter]",
    "MBTCPCentral-SlaveUnitID": "reported only; the meter's unit id comes from the board file's [grid_meter]",
    "ConnectorPhaseRotation": "reported as configured; not derived from Phase-Connected yet",
    "SCN-AlternatingPeriod": NO_SCN,
    "SCN-PhaseMapping-1": NO_SCN,
    "SCN-PhaseMapping-2": NO_SCN,
    "SCN-SocketCount": NO_SCN,
    "SCN-SocketID": NO_SCN,
    "SCN-SocketSafeCurrent": NO_SCN,
    "SCN-TotalSafeCurrent": NO_SCN,
    "SCN-TotalStaticCurrent": NO_SCN,
    "SCN-IsEnabled": "false: " + NO_SCN.removeprefix("stored; "),
    "NuvveActive": "stored; no Nuvve (V2G aggregator) integration",
    "NuvveInterval": "stored; no Nuvve (V2G aggregator) integration",
    "NuvveTolerance": "stored; no Nuvve (V2G aggregator) integration",
    "ForceFirmwareRollback": "stored; the board's firmware install hook has no rollback",
    "PW-AllowSSALogin": NO_SERVICE_LOGIN,
    "PW-SetChargerPassword": "checked and stored (salted hash); " + NO_SERVICE_LOGIN.removeprefix("stored; "),
    "PW-SetTempAccessKey": NO_SERVICE_LOGIN,
    "PW-TempAccessExpiration": NO_SERVICE_LOGIN,
    "FeatureLicenseKey": "stored; every feature of this controller is unlocked, there is nothing to license",
    "TimeZoneMinutes": "stored; the controller keeps UTC (OCPP timestamps are UTC) and this board has no display",
}
