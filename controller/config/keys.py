"""The configuration key table: every OCPP 1.6 / Alfen Eve key this controller answers, declared once, as data.

Owns *what* a key is (name and aliases, type, range/options, default, access, origin, category, whether a
change needs a reboot, which module applies it, a one-line description, and a note when the hardware it
configures is absent on this board). It does not hold values: `store.py` persists them and `registry.py`
validates, reads and writes them.

Source of truth: `reference/alfen-ocpp-configuration-keys.txt` (Alfen's back office key list; descriptions,
ranges, options and defaults are taken from it), plus the standard OCPP 1.6 keys (§9) and the keys of the
"Improved security for OCPP 1.6-J" whitepaper that the Alfen list lacks. Where Alfen spells a standard key
differently (`HeartBeatInterval`, `CertificateSignedMaxChain`) the standard name is canonical and the Alfen
spelling is an alias: one value, two names.

Conventions:
- `default` is the OCPP string. Booleans are stored as "true"/"false" (the document writes True/False).
- `minimum`/`maximum` bound INT/FLOAT values; `special_values` are values accepted outside that range
  (e.g. "0" = disabled for `HeartbeatInterval`, documented as "30 - 2147483647; 0 disables").
- `options`: allowed values of an ENUM, or allowed items of a CSL (measurand lists are expanded with their
  documented phase suffixes, so `Voltage.L1-N` is an option and `Voltage.L1` is not).
- `max_items`: CSL item limit used when no `<Key>MaxLength` key exists; when one exists the registry uses its
  current value (OCPP rule). OCPP CSL keys without a MaxLength key hold at most 1 item.
- `item_pattern`: a regex every CSL item must match, or (for STRING keys) the whole value.
- `schemes`: allowed URL schemes of a URL key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class KeyType(StrEnum):
    BOOL = "bool"
    INT = "int"
    FLOAT = "float"
    STRING = "string"
    ENUM = "enum"
    CSL = "csl"
    IP = "ip"
    URL = "url"


class Access(StrEnum):
    R = "R"
    RW = "RW"
    W = "W"


OWNERS = (
    "evse",
    "ocpp",
    "energy",
    "auth",
    "transactions",
    "leds",
    "meter",
    "network",
    "security",
    "firmware",
    "station",
    "metering",
    "hardware-absent",
)


@dataclass(frozen=True, slots=True)
class KeySpec:
    name: str
    type: KeyType
    default: str
    access: Access
    category: str
    owner: str
    description: str
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    options: tuple[str, ...] = ()
    max_items: int | None = None
    item_pattern: str | None = None
    origin: str = "Alfen"
    reboot_required: bool = False
    hardware_note: str | None = None
    special_values: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


# ---------------------------------------------------------------------------------------------------------
# Shared option sets and notes
# ---------------------------------------------------------------------------------------------------------

INT32_MAX = 2147483647

NO_DISPLAY = "stored; this board has no display"
NO_MODEM = "stored; this board has no modem (GPRS/4G)"
NO_E_SOCKET = "stored; this board has no E-socket (domestic socket)"
NO_COVER_LOCK = "stored; this board has no socket cover lock"
NO_DPS = "stored; this board has no direct payment (Giro-e) terminal"

#: Documented measurands and the phase suffixes the document allows for each (MeterValuesSampledData).
MEASURAND_PHASES: dict[str, tuple[str, ...]] = {
    "Energy.Active.Import.Register": (),
    "Power.Active.Import": ("L1", "L2", "L3"),
    "Current.Import": ("L1", "L2", "L3"),
    "Voltage": ("L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1"),
    "Temperature": (),
    "Current.Offered": (),
    "Frequency": (),
    "Power.Factor": ("L1", "L2", "L3"),
}
#: Every phase suffix OCPP 1.6 knows (for error messages).
OCPP_PHASES = ("L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1")

MEASURANDS: tuple[str, ...] = tuple(
    item
    for base, phases in MEASURAND_PHASES.items()
    for item in (base, *(f"{base}.{p}" for p in phases))
)

FEATURE_PROFILES = (
    "Core",
    "FirmwareManagement",
    "LocalAuthListManagement",
    "Reservation",
    "SmartCharging",
    "RemoteTrigger",
)
CONNECTOR_TYPES = ("Fixed cable", "Type 2 socket", "Schuko socket", "Type-1 fixed cable", "Type-2 fixed cable")
UNLOCKABLE_FEATURES = (
    "None",
    "SCN",
    "Standard-SC",
    "Active-SC",
    "32A-output",
    "RFID-reader",
    "Pers.display",
    "4G",
)
LANGUAGES = (
    "en_GB",
    "nl_NL",
    "de_DE",
    "fr_FR",
    "it_IT",
    "nn_NO",
    "fi_FI",
    "pt_PT",
    "es_ES",
    "sv_SV",
    "pl_PL",
    "dk_DK",
)
METER_MODELS = ("None", "Socomec")
#: Any order of distinct phases L1, L2, L3 ("L1L2L3", "L3L2L1", "L2").
PHASE_ORDER_PATTERN = r"(?:(L[123])(?!.*\1)){1,3}"
PHASE_ROTATION_PATTERN = r"\d\.(?:NotApplicable|Unknown|RST|RTS|SRT|STR|TRS|TSR)"
#: Characters the PW-* keys exclude: backslash, double quote, comma (and we exclude control characters).
PASSWORD_PATTERN = r'[^\\",\x00-\x1f\x7f]{10,40}'
BACKOFFICE_SCHEMES = ("ws", "wss")

_B, _I, _F, _S, _E, _L, _IP, _U = (
    KeyType.BOOL,
    KeyType.INT,
    KeyType.FLOAT,
    KeyType.STRING,
    KeyType.ENUM,
    KeyType.CSL,
    KeyType.IP,
    KeyType.URL,
)
R, RW, W = Access.R, Access.RW, Access.W

# Category names as in the document / keys-index.tsv.
GEN, PWR, LB, AUTH, CONN = "General", "Power settings", "Load balancing", "Authorization", "Connectivity"
IFACE, ALERT, MON, EICH, SEC = "Interface", "Alerts", "Monitoring", "Eichrecht", "Security"
PRICE, DPS, OTHER = "Price transparency", "Direct Payment Solutions", "Other"

OCPP = "OCPP"
CONTROLLER = "Controller"  # keys of this controller that neither OCPP nor the Alfen list has

# ---------------------------------------------------------------------------------------------------------
# The table. One KeySpec per key; in document order, standard-only keys at the end of their category.
# ---------------------------------------------------------------------------------------------------------

KEYS: tuple[KeySpec, ...] = (
    # ----- General -----
    KeySpec("FeatureObjectId", _S, "", R, GEN, "station",
            "Product unique ID used to purchase a new LicenseKey (determined per order)."),
    KeySpec("Identity", _S, "", RW, GEN, "ocpp",
            "Identity code that identifies the charging station in the back office (determined per order).",
            max_length=20, reboot_required=True),
    KeySpec("DeviceIdentity", _S, "", R, GEN, "station",
            "Fixed identifier that is unique per charging station.", max_length=24),
    KeySpec("FeatureLicenseKey", _S, "", RW, GEN, "station",
            "Currently installed LicenseKey; a new one unlocks purchased features."),
    KeySpec("UnlockedFeatures", _L, "", R, GEN, "station",
            "Comma separated list of unlocked features (formerly 'FeatureEnabled'; determined per order).",
            options=UNLOCKABLE_FEATURES, max_items=len(UNLOCKABLE_FEATURES)),
    KeySpec("SupportedFeatureProfiles", _L, ",".join(FEATURE_PROFILES), R, GEN, "ocpp",
            "Comma separated list of supported OCPP feature profiles.",
            options=FEATURE_PROFILES, max_items=len(FEATURE_PROFILES), origin=OCPP),
    KeySpec("SupportedFeatureProfilesMaxLength", _I, "6", R, GEN, "ocpp",
            "Maximum number of items in SupportedFeatureProfiles.", minimum=0, maximum=255, origin=OCPP),
    KeySpec("TimeZoneMinutes", _I, "60", RW, GEN, "station",
            "Time zone offset to UTC in minutes, for calculating the local time.", minimum=-720, maximum=720),
    KeySpec("Latitude", _F, "52.402271", RW, GEN, "leds",
            "Latitude of the station, to calculate dusk and dawn for dimming the LEDs/display.",
            minimum=-90, maximum=90),
    KeySpec("Longitude", _F, "5.243745", RW, GEN, "leds",
            "Longitude of the station, to calculate dusk and dawn for dimming the LEDs/display.",
            minimum=-180, maximum=180),
    # ----- Power settings -----
    KeySpec("NFC-Version1", _S, "", R, PWR, "auth",
            "Hardware and firmware versions of the NFC reader: HW:<HWVersion>,SW:<SWVersion>."),
    KeySpec("NFC-Version2", _S, "", R, PWR, "auth",
            "Hardware and firmware versions of the second NFC reader: HW:<HWVersion>,SW:<SWVersion>."),
    KeySpec("Station-MaxCurrent", _F, "32.0", RW, PWR, "energy",
            "Maximum current (A) the entire station may provide; also used for load balancing on doubles.",
            minimum=0, maximum=160),
    KeySpec("Connector1-MaxCurrent", _F, "32.0", RW, PWR, "evse",
            "Maximum current (A) an EV may draw from the left connector.", minimum=0, maximum=80),
    KeySpec("Connector1.2-MaxCurrent", _F, "16.0", RW, PWR, "hardware-absent",
            "Maximum current (A) that may be drawn from the left E-socket (0.0 - 16.0 A).",
            minimum=0, maximum=16, hardware_note=NO_E_SOCKET),
    KeySpec("Connector1-Type", _E, "Type 2 socket", RW, PWR, "evse",
            "Type of charging socket or cable on connector #1 (determined per order).",
            options=CONNECTOR_TYPES, reboot_required=True),
    KeySpec("Connector2-MaxCurrent", _F, "32.0", RW, PWR, "evse",
            "Maximum current (A) an EV may draw from the right connector.", minimum=0, maximum=80),
    KeySpec("Connector2.2-MaxCurrent", _F, "16.0", RW, PWR, "hardware-absent",
            "Maximum current (A) that may be drawn from the right E-socket (0.0 - 16.0 A).",
            minimum=0, maximum=16, hardware_note=NO_E_SOCKET),
    KeySpec("Connector2-Type", _E, "Type 2 socket", RW, PWR, "evse",
            "Type of charging socket or cable on connector #2 (determined per order).",
            options=CONNECTOR_TYPES, reboot_required=True),
    KeySpec("ZE-ready", _B, "false", RW, PWR, "evse",
            "Station behaviour conforms to the Renault ZE-ready requirements."),
    KeySpec("Power Outage Recovery", _E, "Idle", RW, PWR, "transactions",
            "Resume the last transaction after a power outage or stay idle (formerly 'ZE-restart').",
            options=("Idle", "Resume")),
    KeySpec("Max Allowed Outage Duration (s)", _I, "0", RW, PWR, "transactions",
            "With 'Power Outage Recovery' = Resume: resume only if the outage was shorter; 0 = always resume.",
            minimum=0, maximum=3600),
    KeySpec("Disable105Percent", _B, "false", RW, PWR, "evse",
            "Enable/disable the overcurrent check (charging is interrupted above 105% of the allowed current)."),
    KeySpec("Chameleon-MinCurrent", _F, "14.0", RW, PWR, "evse",
            "Minimum current (A) used when a Chameleon charger (e.g. Renault Zoe) is detected.",
            minimum=0, maximum=32),
    KeySpec("ConnectionTimeOut", _I, "120", RW, PWR, "auth",
            "Maximum time (s) between an authorization and connecting an EV before the authorization expires.",
            minimum=0, maximum=32767, origin=OCPP),
    KeySpec("Phase-Connected", _S, "L1L2L3", RW, PWR, "energy",
            "Phases connected to the station and their order (for active load balancing), e.g. L1L2L3, L2.",
            item_pattern=PHASE_ORDER_PATTERN),
    # ----- Load balancing -----
    KeySpec("Static-LoadBalancing", _E, "Off", RW, LB, "energy",
            "Enable/disable load balancing between multiple sockets (up to FW 3.4.3: 'LoadBalancing').",
            options=("On", "Off")),
    KeySpec("Active-LoadBalancing", _E, "Off", RW, LB, "energy",
            "Active load balancing with a smart meter (DSMR 4.0+ P1 port) (up to FW 3.4.3: 'P1-Port').",
            options=("On", "Off")),
    KeySpec("ALB-ProtocolSelection", _E, "None", RW, LB, "energy",
            "Device used as smart meter for active load balancing.",
            options=("None", "Modbus TCP/IP", "DSMR P1")),
    KeySpec("DirectExternalSuspendSignal", _E, "DSMR P1", RW, LB, "energy",
            "Purpose of the RJ11 port (formerly 'RJ11-Mode').",
            options=("DSMR P1", "Suspend when an external circuit is closed",
                     "Suspend when an external circuit is opened")),
    KeySpec("MBTCPSmart-IPAddress", _IP, "192.168.000.005", RW, LB, "energy",
            "IP address of the smart Modbus TCP/IP meter (up to FW 3.4.3: 'MBTCP-IPAddress')."),
    KeySpec("MBTCPSmart-IsEnabled", _B, "false", RW, LB, "energy",
            "Enable/disable the smart Modbus TCP/IP meter (up to FW 3.4.3: 'MBTCP-IsEnabled')."),
    KeySpec("MBTCPSmart-SlaveUnitID", _I, "5", RW, LB, "energy",
            "Slave address of the smart Modbus TCP/IP meter (formerly 'MBTCPSmart-SlaveAddress').",
            minimum=0, maximum=65535),
    KeySpec("MBTCPSmart-SlaveMeterModel", _E, "Socomec", RW, LB, "energy",
            "Brand/type of the smart Modbus TCP/IP meter used for active load balancing.",
            options=METER_MODELS),
    KeySpec("MBTCPCentral-IPAddress", _IP, "192.168.000.004", RW, LB, "energy",
            "IP address of the central Modbus TCP/IP meter."),
    KeySpec("MBTCPCentral-IsEnabled", _B, "false", RW, LB, "energy",
            "Enable/disable the central Modbus TCP/IP meter."),
    KeySpec("MBTCPCentral-SlaveUnitID", _I, "5", RW, LB, "energy",
            "Slave address of the central Modbus TCP/IP meter.", minimum=0, maximum=65535),
    KeySpec("MBTCPCentral-SlaveMeterModel", _E, "Socomec", RW, LB, "energy",
            "Brand/type of the central Modbus TCP/IP meter.", options=METER_MODELS),
    KeySpec("MbsSlaveTCPIP", _E, "Off", RW, LB, "energy",
            "Enable or disable the Modbus TCP slave (a master may set the maximum current).",
            options=("On", "Off"), reboot_required=True),
    KeySpec("MbsSlaveTCPIPValidityTime", _I, "60", RW, LB, "energy",
            "Time (s) within which a Modbus master must refresh the maximum current before safe current applies.",
            minimum=1, maximum=32767),
    # Default not documented; "Socket" (each socket controlled separately) is Alfen's factory setting.
    KeySpec("MbsSlaveTCPIPMode", _E, "Socket", RW, LB, "energy",
            "Modbus slave controls each socket or the station as a whole.", options=("Off", "Socket", "SCN")),
    # Default not documented; 6 A is the lowest current IEC 61851 allows to charge with.
    KeySpec("Safe-MaxCurrent", _F, "6.0", RW, LB, "energy",
            "Safe current (A) used when active load balancing loses its meter or the SCN.", minimum=0),
    KeySpec("SCN-AlternatingPeriod", _I, "900", RW, LB, "energy",
            "Period (s) over which the SCN alternates sockets when the minimum currents exceed the available.",
            minimum=900, maximum=36000),
    KeySpec("SCN-IsEnabled", _B, "false", R, LB, "energy",
            "Whether the Smart Charging Network feature is unlocked (depends on the order)."),
    KeySpec("SCN-NetworkName", _S, "SCN1", RW, LB, "energy",
            "Name of the Smart Charging Network; identical on all stations of one SCN.", max_length=7),
    KeySpec("SCN-PhaseMapping-1", _I, "4", RW, LB, "energy",
            "Phase mapping of the left socket: 0 None, 1 L1, 2 L2, 3 L3, 4 L1L2L3, 5 L1L3L2, 6 L2L1L3, "
            "7 L2L3L1, 8 L3L1L2, 9 L3L2L1.", minimum=0, maximum=9),
    KeySpec("SCN-PhaseMapping-2", _I, "4", RW, LB, "energy",
            "Phase mapping of the right socket (same codes as SCN-PhaseMapping-1).", minimum=0, maximum=9),
    KeySpec("SCN-SocketSafeCurrent", _F, "6.0", RW, LB, "energy",
            "Maximum current (A) a socket uses when it lost the SCN connection; identical in one SCN.",
            minimum=0),
    KeySpec("SCN-TotalSafeCurrent", _F, "32.0", RW, LB, "energy",
            "Maximum total current (A) of an SCN when multiple sockets lost the connection.", minimum=0),
    KeySpec("SCN-SocketCount", _I, "1", RW, LB, "energy",
            "Total number of sockets in the Smart Charging Network.", minimum=0, maximum=255),
    KeySpec("SCN-SocketID", _I, "0", RW, LB, "energy",
            "ID of the left socket in the SCN; unique and in chronological order.", minimum=0, maximum=255),
    KeySpec("SCN-TotalStaticCurrent", _F, "200.0", RW, LB, "energy",
            "Maximum current (A) the Smart Charging Network will use; identical in one SCN.", minimum=0),
    KeySpec("ChargeProfileMaxStackLevel", _I, "5", R, LB, "energy",
            "Max StackLevel of a ChargingProfile (also the max profiles per purpose).", minimum=0,
            origin=OCPP),
    KeySpec("ChargingScheduleAllowedChargingRateUnit", _L, "Current", R, LB, "energy",
            "Supported quantities for use in a ChargingSchedule.", options=("Current", "Power"), max_items=2,
            origin=OCPP),
    KeySpec("ChargingScheduleMaxPeriods", _I, "10", R, LB, "energy",
            "Maximum number of periods per ChargingSchedule.", minimum=0, origin=OCPP),
    KeySpec("MaxChargingProfilesInstalled", _I, "20", R, LB, "energy",
            "Maximum number of charging profiles installed.", minimum=0, origin=OCPP),
    KeySpec("NuvveActive", _B, "false", W, LB, "energy", "Switch the Nuvve functionality on or off."),
    KeySpec("NuvveInterval", _I, "60", W, LB, "energy",
            "Interval (s) in which the Nuvve message is sent.", minimum=0, maximum=65535),
    KeySpec("NuvveTolerance", _I, "100", W, LB, "energy",
            "Minimum power change (W) that triggers sending the Nuvve message.", minimum=0, maximum=65535),
    KeySpec("ConnectorSwitch3to1PhaseSupported", _B, "false", R, LB, "energy",
            "If true, the station supports switching from 3 to 1 phase during a charging session.",
            origin=OCPP),
    KeySpec("SmartChargingMode", _E, "None", RW, LB, "energy",
            "OCPP 1.5+ smart charging mode (only functions with protocol version OCPP 1.5).",
            options=("None", "GreenFlux", "Enervalis", "Cohere", "EVNet", "OCPP16")),
    # The document says ConnectorPhaseRotationMaxLength "always returns 0 (not supported)"; with 0 the
    # documented default "0.RST" could not be held. We support connectors 0..2, so we report 3.
    KeySpec("ConnectorPhaseRotation", _L, "0.RST", R, LB, "energy",
            "Phase rotation per connector relative to its meter (or the grid), CSL like 0.RST,1.RST,2.RTS.",
            item_pattern=PHASE_ROTATION_PATTERN, max_items=3, origin=OCPP),
    KeySpec("ConnectorPhaseRotationMaxLength", _I, "3", R, LB, "energy",
            "Maximum number of items in ConnectorPhaseRotation.", minimum=0, origin=OCPP),
    # Default not documented.
    KeySpec("SmartMeter-MaxCurrent", _F, "25.0", RW, LB, "energy",
            "Maximum current (A) of the whole installation, for smart-meter load balancing "
            "(up to FW 3.4.3: 'Installation-MaxCurrent').", minimum=0),
    KeySpec("SmartMeterIncludesCharger", _B, "true", RW, LB, "energy",
            "Whether the external meter's readings include the station's own consumption."),
    KeySpec("EnablePhaseSwitching", _B, "false", RW, LB, "energy",
            "Enable switching between 1 and 3 phase charging."),
    KeySpec("MaxImbalanceCurrent", _F, "0", RW, LB, "energy",
            "Maximum allowed current imbalance (A) between phases; 0 = disabled.", minimum=0),
    KeySpec("MaxAllowedPhases", _E, "3", RW, LB, "energy",
            "Maximum number of phases the station may charge on (1 or 3).", options=("1", "3")),
    # ----- Authorization -----
    KeySpec("DisconnectAction", _E, "Continue", RW, AUTH, "transactions",
            "Behaviour when the EV side is disconnected during a transaction or the back office is lost.",
            options=("Continue", "Abort", "Unlock", "UnlockWhenOffline")),
    KeySpec("UnlockConnectorOnEVSideDisconnect", _B, "false", RW, AUTH, "transactions",
            "Unlock the cable on the station side when it is unplugged at the EV (true = Unlock, false = Abort).",
            origin=OCPP),
    KeySpec("DisconnectTimeout", _I, "10", RW, AUTH, "transactions",
            "Time (s) after which DisconnectAction is executed.", minimum=0, maximum=32767),
    KeySpec("AbortConcurrentTx", _B, "false", RW, AUTH, "transactions",
            "Abort a transaction when the back office answers StartTransaction with ConcurrentTx."),
    KeySpec("AllowOfflineTxForUnknownId", _B, "true", RW, AUTH, "auth",
            "Allow transactions for unknown identifiers while offline; checked again when back online.",
            origin=OCPP),
    KeySpec("AuthorizationCacheEnabled", _B, "true", RW, AUTH, "auth",
            "Whether the station has (uses) an Authorization Cache.", origin=OCPP),
    KeySpec("AuthorizationMethod", _E, "RFID", RW, AUTH, "auth",
            "Interaction that starts a transaction: RFID card, or Plug&Charge with PlugAndChargeIdentifier.",
            options=("RFID", "Plug&Charge")),
    KeySpec("AuthorizeRemoteTxRequests", _B, "false", RW, AUTH, "auth",
            "Authorize the idTag of a RemoteStartTransaction at the back office before starting.",
            origin=OCPP),
    KeySpec("LocalAuthListEnabled", _B, "true", RW, AUTH, "auth",
            "Enable/disable the Local Authorization List.", origin=OCPP),
    KeySpec("LocalAuthListMaxLength", _I, "782", R, AUTH, "auth",
            "Maximum number of identifications in the Local Authorization List.", minimum=0, origin=OCPP),
    KeySpec("LocalAuthorizeOffline", _B, "true", RW, AUTH, "auth",
            "Whether an offline station starts transactions for locally authorized identifiers.",
            origin=OCPP),
    KeySpec("LocalPreAuthorize", _B, "false", RW, AUTH, "auth",
            "Whether an online station starts transactions for locally authorized identifiers at once.",
            origin=OCPP),
    KeySpec("PlugAndChargeIdentifier", _S, "", RW, AUTH, "auth",
            "Identification a Plug&Charge station uses to report transactions.", max_length=20),
    KeySpec("OfflineAuthorise", _B, "true", W, AUTH, "auth",
            "Obsolete (write only), replaced by LocalAuthorizeOffline: authorize unknown ids while offline."),
    KeySpec("OnlineAuthorise", _B, "true", W, AUTH, "auth",
            "Obsolete (write only), replaced by LocalPreAuthorize: always authorize at the back office online."),
    KeySpec("WhiteListEnabled", _B, "true", RW, AUTH, "auth",
            "Enable/disable the Authorization Cache (white list)."),
    # Document: range 0 - 4294967296, default 22 (sic).
    KeySpec("MaxEnergyOnInvalidId", _I, "22", RW, AUTH, "transactions",
            "Maximum energy (Wh) delivered when an id is invalidated by the back office after the start.",
            minimum=0, maximum=4294967296, origin=OCPP),
    # The document's value column for this row is garbled; we accept a whole local list in one request.
    KeySpec("SendLocalListMaxLength", _I, "782", R, AUTH, "auth",
            "Maximum number of identifications in a single SendLocalList.req.", minimum=0, origin=OCPP),
    KeySpec("StopTransactionOnEVSideDisconnect", _B, "false", RW, AUTH, "transactions",
            "Stop the transaction when the cable is unplugged from the EV (switches Continue/Abort).",
            origin=OCPP),
    KeySpec("TimeUnlockWhenNotCharging", _I, "0", RW, AUTH, "transactions",
            "Time (s) after the EV stops charging until the transaction stops and the cable unlocks; 0 = off.",
            minimum=60, maximum=32767, special_values=("0",)),
    KeySpec("StopTransactionOnInvalidId", _B, "false", RW, AUTH, "transactions",
            "Stop a running transaction when StartTransaction.conf is not Accepted (else stop energy only).",
            origin=OCPP),
    KeySpec("MasterKey-isEnabled", _B, "false", RW, AUTH, "auth",
            "Allow the master key mode to add/remove tags locally (formerly 'MasterTagisEnabled'; "
            "default true stand-alone, false with a back office)."),
    KeySpec("MasterKey-Id", _S, "", RW, AUTH, "auth",
            "ID of the tag defined as master key (formerly 'MasterTag-Id').", max_length=21),
    # ----- Connectivity -----
    KeySpec("TransactionMessageAttempts", _I, "0", RW, CONN, "transactions",
            "Times to retry a transaction message the back office failed to process; 0 = indefinitely.",
            minimum=1, maximum=65535, special_values=("0",), origin=OCPP),
    KeySpec("TransactionMessageRetryInterval", _I, "60", RW, CONN, "transactions",
            "Wait time (s) between resubmitting failed transaction messages (times number of earlier tries).",
            minimum=0, maximum=INT32_MAX, origin=OCPP),
    KeySpec("WebSocketPingInterval", _I, "120", RW, CONN, "ocpp",
            "Interval (s) between websocket pings; 0 disables client pings.",
            minimum=30, maximum=INT32_MAX, special_values=("0",), origin=OCPP),
    KeySpec("WS timeout", _I, "10", W, CONN, "ocpp", "Websocket read timeout (s).",
            minimum=10, maximum=65535),
    KeySpec("APN-Name", _S, "", RW, CONN, "hardware-absent",
            "Access Point Name used when Network is Wireless or Auto.", max_length=32, hardware_note=NO_MODEM),
    KeySpec("APN-Password", _S, "", RW, CONN, "hardware-absent",
            "Password the station uses to log in to the APN.", max_length=32, hardware_note=NO_MODEM),
    KeySpec("APN-SignalStrength", _I, "0", R, CONN, "hardware-absent",
            "Strength of the GPRS signal (dBm).", hardware_note=NO_MODEM),
    KeySpec("APN-User", _S, "", RW, CONN, "hardware-absent",
            "Username the station uses to log in to the APN.", max_length=32, hardware_note=NO_MODEM),
    KeySpec("AuthorizationKey", _S, "", W, CONN, "security",
            "Authorization key (hex, 16..20 bytes) for HTTP Basic auth of the websocket (profiles 1 and 2).",
            item_pattern=r"(?:[0-9A-Fa-f]{2}){16,20}", max_length=40, origin=OCPP),
    KeySpec("AuthorizationKeyFormat", _E, "HexText", RW, CONN, "security",
            "How the AuthorizationKey is sent as the HTTP Basic password: HexText (the hex text as configured) or "
            "DecodedBytes (the 16..20 bytes it encodes); back offices differ.", options=("HexText", "DecodedBytes"),
            origin=CONTROLLER),
    KeySpec("BackOffice-Path-APN", _S, "", RW, CONN, "hardware-absent",
            "Path of the back office server for the GPRS connection (e.g. /chargingstations/OCPPWS16).",
            max_length=63, item_pattern=r"(?:/\S*)?", hardware_note=NO_MODEM),
    KeySpec("BackOffice-Path-wired", _S, "", RW, CONN, "ocpp",
            "Path of the back office server for the LAN connection (e.g. /chargingstations/OCPPWS16).",
            max_length=63, item_pattern=r"(?:/\S*)?", reboot_required=True),
    KeySpec("BackOffice-Path-APN2", _S, "", RW, CONN, "hardware-absent",
            "Path of the second back office server for the GPRS connection.",
            max_length=63, item_pattern=r"(?:/\S*)?", hardware_note=NO_MODEM),
    KeySpec("BackOffice-Path-wired2", _S, "", RW, CONN, "ocpp",
            "Path of the second back office server for the LAN connection.",
            max_length=63, item_pattern=r"(?:/\S*)?", reboot_required=True),
    KeySpec("BackOffice-URL-APN", _U, "", RW, CONN, "hardware-absent",
            "URL and port of the back office for the GPRS connection (e.g. ws://server.nl:9090).",
            max_length=63, schemes=BACKOFFICE_SCHEMES, hardware_note=NO_MODEM),
    KeySpec("BackOffice-URL-wired", _U, "", RW, CONN, "ocpp",
            "URL and port of the back office for the LAN connection (e.g. ws://server.nl:9090).",
            max_length=63, schemes=BACKOFFICE_SCHEMES, reboot_required=True),
    KeySpec("DNS-1", _IP, "8.8.8.8", RW, CONN, "hardware-absent", "Preferred GPRS DNS address.",
            hardware_note=NO_MODEM),
    KeySpec("DNS-2", _IP, "208.67.222.222", RW, CONN, "hardware-absent",
            "Fallback GPRS DNS address.", hardware_note=NO_MODEM),
    KeySpec("CentralMeterValueAlignment", _E, "Clock", RW, CONN, "meter",
            "Alignment of central meter value messages: Clock (clock hours) or Boot (time of booting).",
            options=("Clock", "Boot")),
    KeySpec("CentralMeterValueSampleInterval", _I, "900", RW, CONN, "meter",
            "Time (s) between central meter value messages; 0 disables them.",
            minimum=60, maximum=INT32_MAX, special_values=("0",)),
    KeySpec("CentralMeterValueTransmissionMode", _E, "During", RW, CONN, "meter",
            "When central meter values are sent: During transactions, Always, or at the End of one.",
            options=("During", "Always", "End")),
    KeySpec("HeartbeatInterval", _I, "900", RW, CONN, "ocpp",
            "Maximum time (s) since the last successful message exchange before a Heartbeat; 0 disables.",
            aliases=("HeartBeatInterval",), minimum=30, maximum=INT32_MAX, special_values=("0",),
            origin=OCPP),
    KeySpec("HeartBeatSendAllways", _B, "false", RW, CONN, "ocpp",
            "Send Heartbeats even when other messages are exchanged with the back office."),
    KeySpec("MaxTxMeterValueRandomisationTime", _I, "0", RW, CONN, "meter",
            "Meter values are sent at a random delay of 0..this many seconds; 0 = no randomisation.",
            minimum=0, maximum=65535),
    KeySpec("ClockAlignedDataInterval", _I, "0", RW, CONN, "meter",
            "Interval (s) of clock-aligned meter data (900 -> 00:15, 00:30 ...); 0 disables.",
            minimum=60, maximum=INT32_MAX, special_values=("0",), origin=OCPP),
    KeySpec("MeterValuesAlignedData", _L, "", RW, CONN, "meter",
            "Clock-aligned measurands in every meter value (up to 9; same measurands as MeterValuesSampledData).",
            options=MEASURANDS, max_items=9, origin=OCPP),
    KeySpec("MeterValuesAlignedDataMaxLength", _I, "9", R, CONN, "meter",
            "Maximum number of items in MeterValuesAlignedData.", minimum=0, origin=OCPP),
    KeySpec("MeterValueSampleInterval", _I, "900", RW, CONN, "meter",
            "Interval (s) of sampled meter data during a transaction, from its start; 0 disables.",
            minimum=2, maximum=INT32_MAX, special_values=("0",), origin=OCPP),
    KeySpec("MeterValuesSampledData", _L, "Energy.Active.Import.Register", RW, CONN, "meter",
            "Sampled measurands in every meter value (up to 9), e.g. "
            "Energy.Active.Import.Register,Voltage.L1-N,Current.Import.L1.",
            options=MEASURANDS, max_items=9, origin=OCPP),
    KeySpec("MeterValuesSampledDataMaxLength", _I, "9", R, CONN, "meter",
            "Maximum number of items in MeterValuesSampledData.", minimum=0, origin=OCPP),
    KeySpec("Network", _E, "Wired", RW, CONN, "network",
            "Network connection type: None, Wired (LAN), Wireless (GPRS) or Auto (wired, else wireless); "
            "this board has no modem, so Wireless never connects.",
            options=("None", "Wired", "Wireless", "Auto"), reboot_required=True),
    KeySpec("OCPP-reply timeout", _I, "60", W, CONN, "ocpp",
            "Time (s) after which an OCPP request sent by the station times out.", minimum=1,
            maximum=INT32_MAX),
    KeySpec("OCPP-send timeout", _I, "30", W, CONN, "hardware-absent",
            "Time (s) after which setting up a websocket connection via GPRS is considered failed.",
            minimum=1, maximum=INT32_MAX, hardware_note=NO_MODEM),
    KeySpec("ProtocolName", _E, "ocpp/json", R, CONN, "ocpp",
            "OCPP communication protocol (ocpp/json or ocpp/soap; determined by the back office system).",
            options=("ocpp/json", "ocpp/soap")),
    # The document also lists OCPP1.5 and OCPP2.0.1; this controller speaks only OCPP 1.6J, so only that
    # value is accepted (accepting others would be a promise we cannot keep).
    KeySpec("ProtocolVersion", _E, "OCPP1.6", RW, CONN, "ocpp",
            "OCPP protocol version number (this controller: OCPP1.6 only).", options=("OCPP1.6",),
            max_length=10),
    KeySpec("StopTxnAlignedData", _L, "", R, CONN, "meter",
            "Clock-aligned measurands in StopTransaction.req (not supported: always empty).",
            options=MEASURANDS, max_items=0, origin=OCPP),
    KeySpec("StopTxnAlignedDataMaxLength", _I, "0", R, CONN, "meter",
            "Maximum number of items in StopTxnAlignedData (not supported: 0).", minimum=0, origin=OCPP),
    KeySpec("StopTxnSampledData", _L, "", R, CONN, "meter",
            "Sampled measurands in StopTransaction.req (not supported: always empty).",
            options=MEASURANDS, max_items=0, origin=OCPP),
    KeySpec("StopTxnSampledDataMaxLength", _I, "0", R, CONN, "meter",
            "Maximum number of items in StopTxnSampledData (not supported: 0).", minimum=0, origin=OCPP),
    KeySpec("ProxyEnable", _B, "false", RW, CONN, "network",
            "Enable logging in to a proxy server within the local network.", reboot_required=True),
    KeySpec("ProxyAddressAndPort", _S, "", RW, CONN, "network",
            "Local proxy server IP address and port (address:port).", max_length=64,
            item_pattern=r"|\[[0-9A-Fa-f:.]+\]:\d{1,5}|[A-Za-z0-9.\-]+:\d{1,5}", reboot_required=True),
    KeySpec("ProxyUsername", _S, "", RW, CONN, "network", "Username to log in to the local proxy server.",
            max_length=32, reboot_required=True),
    KeySpec("ProxyPassword", _S, "", W, CONN, "network", "Password to log in to the local proxy server.",
            max_length=40, reboot_required=True),
    KeySpec("SupportedFileTransferProtocols", _L, "FTP", R, CONN, "firmware",
            "Transfer protocols usable for GetDiagnostics and UpdateFirmware.",
            options=("FTP", "FTPS", "HTTP", "HTTPS", "SFTP"), max_items=5, origin=OCPP),
    KeySpec("OCPPStackVersion", _S, "4.7.0", R, CONN, "ocpp",
            "Version of the OCPP stack; changes whenever OCPP message handling changes."),
    KeySpec("MobileNetworkPreference", _E, "4G", RW, CONN, "hardware-absent",
            "Preferred radio access technology at boot.", options=("2G", "3G", "4G"),
            hardware_note=NO_MODEM),
    KeySpec("MobileNetworkSelection", _E, "auto", RW, CONN, "hardware-absent",
            "manual: force MobileNetworkPreference; auto: the modem may use another technology.",
            options=("auto", "manual"), hardware_note=NO_MODEM),
    KeySpec("RegisterMeterValuesIncludePhases", _B, "false", RW, CONN, "meter",
            "Include individual phase measurands in the meter value message."),
    # ----- Interface -----
    KeySpec("SendStationStatus", _B, "true", RW, IFACE, "ocpp",
            "Send StatusNotification for the station itself (connectorId 0)."),
    KeySpec("StatusNotificationMode", _E, "Normal", RW, IFACE, "ocpp",
            "StatusNotification mode: Normal (no timestamp), Timestamp, or Queued (timestamped, queued offline).",
            options=("Normal", "Timestamp", "Queued")),
    KeySpec("AutoDimLights", _B, "true", RW, IFACE, "leds",
            "Dim the LEDs/display automatically (dusk/dawn, 60 s after the last interaction)."),
    KeySpec("LightIntensity", _I, "100", RW, IFACE, "leds", "Light intensity (%) of the LEDs/display.",
            minimum=0, maximum=100, origin=OCPP),
    KeySpec("CalibrateTilt", _S, "", W, IFACE, "evse",
            "Writing any value calibrates and enables the tilt sensor."),
    KeySpec("Language", _E, "en_GB", RW, IFACE, "hardware-absent",
            "Display language (determined per order).", options=LANGUAGES, hardware_note=NO_DISPLAY),
    KeySpec("LED Heart Beat Intensity", _I, "100", RW, IFACE, "leds",
            "Maximum light intensity (%) of the NFC status notification LED.", minimum=0, maximum=100),
    KeySpec("LED Heart Beat Mode", _E, "Off", RW, IFACE, "leds",
            "Enable/disable the NFC status notification LED (Glow or Off).", options=("Glow", "Off")),
    KeySpec("Cover lock enabled", _B, "true", RW, IFACE, "hardware-absent",
            "Enable/disable the socket cover locking mechanism.", hardware_note=NO_COVER_LOCK),
    KeySpec("BlinkRepeat", _I, "3", RW, IFACE, "leds",
            "Number of times to blink the lighting when signalling.", minimum=0, maximum=255, origin=OCPP),
    KeySpec("MinimumStatusDuration", _I, "0", RW, IFACE, "ocpp",
            "Minimum time (s) a status must be stable before a StatusNotification is sent; 0 = at once.",
            minimum=0, maximum=INT32_MAX, origin=OCPP),
    # ----- Alerts -----
    KeySpec("TimeReportWhenNotCharging", _I, "0", RW, ALERT, "transactions",
            "Time (s) after the EV stops charging until a warning is reported (orange LEDs); 0 = off.",
            minimum=0, maximum=65535),
    KeySpec("TemperatureHigh", _F, "70.0", RW, ALERT, "evse",
            "Upper internal temperature (°C) at which the station alerts and pauses charging (a fixed 85 °C "
            "limit stays behind it).", minimum=0, maximum=85),
    KeySpec("TemperatureLow", _F, "-25.0", RW, ALERT, "evse",
            "Lower internal temperature (°C) at which the station alerts and pauses charging.",
            minimum=-40, maximum=40),
    KeySpec("ContactorProtect", _I, "60", RW, ALERT, "evse",
            "Window (s) in which at most 10 start/stop requests from the EV are accepted, else error.",
            minimum=0, maximum=32767),
    # Default not documented; Immediate is the safe choice.
    KeySpec("6mADetectResponse", _E, "Immediate", RW, ALERT, "evse",
            "Reaction to 6 mA DC leakage: Smart (let the EV stop, cut power after 5 s) or Immediate.",
            options=("Smart", "Immediate")),
    # ----- Monitoring (live values) -----
    KeySpec("Connector1-ActualPower", _F, "0.0", R, MON, "meter",
            "Actual power (kW) consumed at connector #1."),
    KeySpec("Connector1-InputPhases", _I, "0", R, MON, "meter",
            "Number of mains phases measured on the input side of connector #1.", minimum=0, maximum=3),
    KeySpec("Connector1-OutputPhases", _I, "0", R, MON, "meter",
            "Number of mains phases measured on the output side of connector #1.", minimum=0, maximum=3),
    KeySpec("Connector1-PhasesConnected", _S, "L1L2L3", R, MON, "meter",
            "Mains phases connected to the input side of connector #1 (e.g. L1L2L3, L2).",
            item_pattern=PHASE_ORDER_PATTERN),
    KeySpec("Connector2-ActualPower", _F, "0.0", R, MON, "meter",
            "Actual power (kW) consumed at connector #2."),
    KeySpec("Connector2-InputPhases", _I, "0", R, MON, "meter",
            "Number of mains phases measured on the input side of connector #2.", minimum=0, maximum=3),
    KeySpec("Connector2-OutputPhases", _I, "0", R, MON, "meter",
            "Number of mains phases measured on the output side of connector #2.", minimum=0, maximum=3),
    KeySpec("Connector2-PhasesConnected", _S, "L1L2L3", R, MON, "meter",
            "Mains phases connected to the input side of connector #2 (e.g. L1L2L3, L2).",
            item_pattern=PHASE_ORDER_PATTERN),
    KeySpec("Temperature", _F, "0.0", R, MON, "evse", "Measured temperature (°C) inside the station."),
    KeySpec("StrictPEMeasurementEnabled", _B, "false", RW, MON, "evse",
            "Enable strict protective earth detection."),
    # ----- Eichrecht -----
    KeySpec("SignedDataEnabled", _B, "false", RW, EICH, "metering",
            "Send signed (OCMF) meter values of the Eichrecht meter at transaction start and stop."),
    KeySpec("SignedMeterValueUpdates", _B, "false", RW, EICH, "metering",
            "With SignedDataEnabled: meter value messages carry signed Eichrecht meter values."),
    KeySpec("QRCodeDisplayTime", _I, "0", RW, EICH, "hardware-absent",
            "QR code display time (no functionality yet).", minimum=0, hardware_note=NO_DISPLAY),
    KeySpec("QRCodeURL", _S, "", RW, EICH, "hardware-absent", "QR code URL (no functionality yet).",
            hardware_note=NO_DISPLAY),
    KeySpec("SignedStartStopMeterValue", _B, "false", RW, EICH, "metering",
            "Send the signed data in an extra meter value message at transaction start and stop."),
    # hex of the DER SubjectPublicKeyInfo: 182 characters for a secp256r1 key
    KeySpec("PublicKey-EnergyMeter1", _S, "", R, EICH, "metering",
            "Public key of the first energy meter (if it has one).", max_length=200),
    KeySpec("PublicKey-EnergyMeter2", _S, "", R, EICH, "metering",
            "Public key of the second energy meter (if it has one).", max_length=200),
    # ----- Security -----
    KeySpec("CertificateSignedMaxChainSize", _I, "10000", R, SEC, "security",
            "Maximum size (characters) of a certificate chain that can be installed (CertificateSigned.req).",
            aliases=("CertificateSignedMaxChain",), minimum=0, maximum=10000, origin=OCPP),
    KeySpec("CertificateStoreMaxLength", _I, "10", R, SEC, "security",
            "Maximum number of Root/CA certificates that can be installed.", minimum=0, origin=OCPP),
    KeySpec("CpoName", _S, "", RW, SEC, "security",
            "CPO name (or an organization trusted by the CPO) as used in the Charge Point Certificate.",
            origin=OCPP),
    KeySpec("SecurityProfile", _I, "0", RW, SEC, "security",
            "Security profile: 0 none, 1 Basic auth, 2 + server certificate (TLS), 3 + client certificate; "
            "can only be raised.", minimum=0, maximum=3, origin=OCPP),
    KeySpec("AdditionalRootCertificateCheck", _B, "false", R, SEC, "security",
            "Only one CentralSystemRootCertificate (plus a temporary fallback) may be installed at a time.",
            origin=OCPP),
    KeySpec("PW-SetChargerPassword", _S, "", W, SEC, "security",
            "Change the station's password: '{existing},{new}', new 10-40 characters without \\ \" or ,."),
    KeySpec("PW-SetTempAccessKey", _S, "", W, SEC, "security",
            "Allow temporary access with this password (10-40 characters without \\ \" or ,).",
            item_pattern=PASSWORD_PATTERN),
    KeySpec("PW-TempAccessExpiration", _I, "0", RW, SEC, "security",
            "Hours (rounded up) until temporary password access expires.", minimum=0, maximum=72),
    KeySpec("PW-AllowSSALogin", _B, "false", RW, SEC, "security",
            "Allow Secure Service Access (default false for new stations, true for existing ones)."),
    # ----- Price transparency -----
    KeySpec("Pricing-Currency", _S, "EUR", RW, PRICE, "hardware-absent",
            "ISO 4217 currency code of the pricing information on the display.", item_pattern=r"[A-Z]{3}",
            hardware_note=NO_DISPLAY),
    KeySpec("Pricing-StartPrice", _F, "0.0", RW, PRICE, "hardware-absent",
            "Start price of a charging session (display only).", minimum=0, hardware_note=NO_DISPLAY),
    KeySpec("Pricing-EnergyPrice", _F, "0.0", RW, PRICE, "hardware-absent",
            "Price per kWh of a charging session (display only, 'Available' screen).", minimum=0,
            hardware_note=NO_DISPLAY),
    KeySpec("Pricing-ShowDisclaimer", _B, "true", RW, PRICE, "hardware-absent",
            "Show a price disclaimer text on the display.", hardware_note=NO_DISPLAY),
    # ----- Direct Payment Solutions -----
    KeySpec("DPSAvailableMethods", _L, "", R, DPS, "hardware-absent",
            "Comma separated list of available Direct Payment Solutions (e.g. Giroe).", options=("Giroe",),
            max_items=1, hardware_note=NO_DPS),
    KeySpec("DPSGiroeMethodStatus", _E, "disabled", RW, DPS, "hardware-absent",
            "Enable or disable Giro-e (needs RFID, Giro-e and an Eichrecht-compliant station).",
            options=("enabled", "disabled"), hardware_note=NO_DPS),
    # ----- Other -----
    KeySpec("GetConfigurationMaxKeys", _I, "35", R, OTHER, "ocpp",
            "Maximum number of keys in one GetConfiguration request.", minimum=0, maximum=32767, origin=OCPP),
    KeySpec("NumberOfConnectors", _I, "1", R, OTHER, "station",
            "Number of connectors (Eve Single 1, Eve Double 2, Twin 2; determined per board).",
            minimum=1, maximum=2, origin=OCPP),
    KeySpec("ReserveConnectorZeroSupported", _B, "true", R, OTHER, "transactions",
            "Reservations for connector 0 (the whole station) are supported.", origin=OCPP),
    KeySpec("ResetRetries", _I, "0", R, OTHER, "station",
            "Number of times to retry an unsuccessful reset.", minimum=0, origin=OCPP),
    KeySpec("ForceFirmwareRollback", _S, "", W, OTHER, "firmware",
            "Force a firmware rollback by writing the current firmware build number (e.g. 4.6.0-3142).",
            item_pattern=r"\d+\.\d+\.\d+-\d+"),
)

#: Keys whose value is a secret password: stored as a salted hash, checked with `ConfigRegistry.check_password`.
PASSWORD_KEYS = frozenset({"PW-SetChargerPassword", "PW-SetTempAccessKey"})

#: Every standard OCPP 1.6 (§9) and security whitepaper key name.
STANDARD_OCPP_KEYS: tuple[str, ...] = (
    # Core
    "AllowOfflineTxForUnknownId", "AuthorizationCacheEnabled", "AuthorizeRemoteTxRequests", "BlinkRepeat",
    "ClockAlignedDataInterval", "ConnectionTimeOut", "ConnectorPhaseRotation",
    "ConnectorPhaseRotationMaxLength", "GetConfigurationMaxKeys", "HeartbeatInterval", "LightIntensity",
    "LocalAuthorizeOffline", "LocalPreAuthorize", "MaxEnergyOnInvalidId", "MeterValuesAlignedData",
    "MeterValuesAlignedDataMaxLength", "MeterValuesSampledData", "MeterValuesSampledDataMaxLength",
    "MeterValueSampleInterval", "MinimumStatusDuration", "NumberOfConnectors", "ResetRetries",
    "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId", "StopTxnAlignedData",
    "StopTxnAlignedDataMaxLength", "StopTxnSampledData", "StopTxnSampledDataMaxLength",
    "SupportedFeatureProfiles", "SupportedFeatureProfilesMaxLength", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect", "WebSocketPingInterval",
    # Local Auth List Management
    "LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
    # Reservation
    "ReserveConnectorZeroSupported",
    # Smart Charging
    "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit", "ChargingScheduleMaxPeriods",
    "ConnectorSwitch3to1PhaseSupported", "MaxChargingProfilesInstalled",
    # Firmware Management
    "SupportedFileTransferProtocols",
    # Security whitepaper
    "AdditionalRootCertificateCheck", "AuthorizationKey", "CertificateSignedMaxChainSize",
    "CertificateStoreMaxLength", "CpoName", "SecurityProfile",
)
