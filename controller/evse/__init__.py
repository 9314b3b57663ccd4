"""The real-time part: the control loop that alone writes the power-path actuators, in its own OS process.

Module map (pure logic, table-tested with a fake clock, unless marked I/O):
- `pilot` voltage -> level (board bands, diode check); `debounce` level -> state (250 ms B->C, 50 ms C->B,
  A and errors within the tick); `statemachine` state x allowed -> pilot drive + contactor; `pwm` duty
  formula and `PwmGovernor` (raises at most every 5 s; lowering, stop and pause at once).
- `connector` one socket per tick: composes `contactor` (feedback: not closing / welded), `rcd` (6 mA DC,
  Smart/Immediate, self-test before each session), `limits` (105 % with the car's 5 s, ContactorProtect,
  Chameleon minimum), the 6 s force-open after PWM off.
- `station` temperature band with hysteresis, tilt with calibration, protective earth, main process
  heartbeat, loop stall hold; `share` the Station-MaxCurrent share of each socket.
- `faults` every fault with its policy (pause / stop / report, state F or not, what clears it) and OCPP code.
- `settings` the evse-owned configuration keys, parsed robustly; `loop` the whole tick and the messages.
- I/O: `devio` device reads/writes, `watchdog` the dead-man thread, `process` the runner, `messages` the
  channel, `supervisor` the main-process side.

How faults recover (see `faults.POLICY`): temperature, PE, tilt, a pilot short, a lost sensor and a silent
main process clear by themselves when the condition is gone (temperature with 5 °C hysteresis, tilt when
upright by 2° inside the threshold); overcurrent, ContactorProtect, a missing diode, residual current and a
failed self-test latch until the car is unplugged; a welded or not-closing contactor latches until a
`clear_faults` message (and latches again at once if still faulty). `clear_faults` clears every latch.
"""
