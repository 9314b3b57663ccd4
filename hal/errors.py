"""Errors raised by HAL devices. Callers treat any `DeviceError` as "this device's reading is unavailable"."""


class DeviceError(Exception):
    """A device could not be read or written (absent, offline, bus error, broken frame)."""


class DeviceOffline(DeviceError):
    """The device does not answer (meter offline, sensor unplugged)."""


class UnsafeSystem(DeviceError):
    """The operating system is set up so that the board cannot be kept safe (e.g. released GPIO outputs stay
    driven): the process refuses to run. The message says what to change."""
