"""Errors raised by HAL devices. Callers treat any `DeviceError` as "this device's reading is unavailable"."""


class DeviceError(Exception):
    """A device could not be read or written (absent, offline, bus error, broken frame)."""


class DeviceOffline(DeviceError):
    """The device does not answer (meter offline, sensor unplugged)."""


class BoardError(Exception):
    """A board file is invalid. The message names the file and line."""
