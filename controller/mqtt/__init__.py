"""The MQTT bridge (issue 14): the station's state and measurements per socket on an MQTT broker, Home
Assistant discovery so the station appears in Home Assistant by itself, and max current / pause commands held
as setpoints with the Modbus slave's rules (validity time, then Safe-MaxCurrent).

- `settings.py`: the board file's [mqtt] section, read once (the password from its own file, never logged).
- `topics.py`: the topic layout.  `report.py`: what is published per socket (pure).
- `discovery.py`: the Home Assistant entities as a table, and their discovery configs (pure).
- `commands.py`: command parsing, refusals and the setpoints they hold (pure, time comes in).
- `bridge.py`: the connection (aiomqtt) with its last will, reconnect with backoff on the injected clock.
- `factory.py`: `build_mqtt`, what the composition root calls.
"""
