"""The Alfen-compatible Modbus TCP slave: energy managers (evcc, Home Assistant, OpenEMS) read the station and
its sockets and write maximum currents through the register map of Alfen NG9xx stations.

- `codec`: register encodings (strings, integers, IEEE-754 floats, "no value").
- `registers`: the register map as data and the read/write rules (pure).
- `server`: the Modbus TCP transport (MBAP framing, function codes 3/6/16, at most 2 masters, idle close).
- `slave`: the service the station starts and stops; it builds the register values from the station.
"""
