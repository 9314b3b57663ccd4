"""The Smart Charging Network: several stations on one feeder sharing SCN-TotalStaticCurrent.

One station, named by its board file, is the coordinator (`coordinator`): it drives the others (members)
through their Modbus TCP slaves in SCN mode (unit 200 station setpoints with their validity time), found by
address or over mDNS (`discovery`). The allocation (`allocation`) and the bookkeeping that keeps the network
within its total at every instant (`ledger`) are pure; `stations` and `client` are the Modbus side. A member
needs nothing from this package but its announcement: its energy management already obeys the setpoints and
falls back to SCN-SocketSafeCurrent per socket when they run out (`controller.energy`).
"""
