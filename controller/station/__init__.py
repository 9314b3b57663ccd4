"""What the main process knows and decides about the station as a whole, in small modules:
`sockets` (the mirror of the control loop's state), `limits` (what each socket may be offered), `status`
(the OCPP status of each connector, derived and de-duplicated), `changes` (the change bus), `lifecycle`
(reset, restart, unlock, recovery after an outage) and `keys` (the station's own configuration keys)."""
