"""What `chargepoint keys` says about keys whose documented behaviour this controller does not (fully)
carry out, as data: key -> note. Keys for absent hardware carry `hardware_note` in keys.py instead.
A test checks that every writable key is either used by some module or explained here."""

from __future__ import annotations

NO_SCN = "stored; the SCN coordinator counts the sockets it finds, each lost one at SCN-SocketSafeCurrent"
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
    "SCN-SocketCount": NO_SCN,
    "SCN-SocketID": NO_SCN,
    "SCN-TotalSafeCurrent": NO_SCN,
    "NuvveActive": "stored; no Nuvve (V2G aggregator) integration",
    "NuvveInterval": "stored; no Nuvve (V2G aggregator) integration",
    "NuvveTolerance": "stored; no Nuvve (V2G aggregator) integration",
    "ForceFirmwareRollback": "stored; the board's firmware install hook has no rollback",
    "PW-AllowSSALogin": NO_SERVICE_LOGIN,
    "PW-SetChargerPassword": "checked and stored (salted hash); the installer's login to the local web interface",
    "PW-SetTempAccessKey": NO_SERVICE_LOGIN,
    "PW-TempAccessExpiration": NO_SERVICE_LOGIN,
    "FeatureLicenseKey": "stored; every feature of this controller is unlocked, there is nothing to license",
    "TimeZoneMinutes": "stored; the controller keeps UTC (OCPP timestamps are UTC) and this board has no display",
}
