"""The operating system facts a Raspberry Pi board file states in its [system] section, as pure functions over
text: which /dev/ttyAMA<N> the config.txt lines enable, which serial consoles a kernel command line has,
and the edits that `chargepoint board-setup` applies (config.txt lines added, serial consoles removed).

Facts encoded here (Raspberry Pi kernels 6.x, CM4 / BCM2711):
- PL011 UARTs are named by their device-tree alias: `enable_uart=1` (with `dtoverlay=disable-bt`) is
  /dev/ttyAMA0 and `dtoverlay=uartN` (N = 2..5) is /dev/ttyAMA<N>: uart3 is ttyAMA3, uart4 is ttyAMA4, not
  ttyAMA1/ttyAMA2 as on 5.x kernels (`dtoverlay=uart1` is the mini UART, /dev/ttyS0).
- `console=serial0,115200` (the stock cmdline.txt) puts the kernel console and a getty on the primary UART;
  a device on that UART then reads the console's bytes (P1 telegrams fail their CRC).
- `dtparam=strict_gpiod` adds `pinctrl_bcm2835.persist_gpio_outputs=n` to the kernel command line: released
  GPIO lines return to inputs. Without it a dead process leaves its outputs driven.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

UART_OVERLAY = re.compile(r"^\s*dtoverlay\s*=\s*uart(\d)\b")
ENABLE_UART = re.compile(r"^\s*enable_uart\s*=\s*1\s*$")
TTYAMA = re.compile(r"^/dev/ttyAMA(\d+)$")
STRICT_GPIOD = "dtparam=strict_gpiod"
AUDIO_OFF = "dtparam=audio=off"
PWM_OVERLAY = re.compile(r"^\s*dtoverlay\s*=\s*pwm(-2chan)?\b")
SERIAL_CONSOLE = re.compile(r"^(serial\d|ttyAMA\d+|ttyS\d+)$")
MARKER = "# chargepoint board"


def _lines(config_txt: Iterable[str]) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in config_txt]


def enabled_uarts(config_txt: Iterable[str]) -> set[str]:
    """The /dev/ttyAMA<N> devices the config.txt lines create."""
    out: set[str] = set()
    for line in _lines(config_txt):
        if ENABLE_UART.match(line):
            out.add("/dev/ttyAMA0")
        m = UART_OVERLAY.match(line)
        if m and m.group(1) != "1":  # uart1 is the mini UART (/dev/ttyS0), not a PL011
            out.add(f"/dev/ttyAMA{m.group(1)}")
    return out


def uart_problem(port: str, config_txt: Iterable[str]) -> str | None:
    """Why `port` cannot exist with these config.txt lines, or None when it can (or is not a ttyAMA)."""
    m = TTYAMA.match(port)
    if m is None:
        return None
    enabled = enabled_uarts(config_txt)
    if port in enabled:
        return None
    n = m.group(1)
    source = "enable_uart=1" if n == "0" else f"dtoverlay=uart{n}"
    have = ", ".join(sorted(enabled)) or "none"
    return (
        f"{port} does not exist with this config.txt: it needs {source} "
        f"(PL011 ports are named by their alias since kernel 6.x: uart3 is /dev/ttyAMA3; enabled here: {have})"
    )


def has_line(config_txt: Iterable[str], wanted: str) -> bool:
    return wanted.replace(" ", "") in (line.replace(" ", "") for line in _lines(config_txt))


def uses_pwm_overlay(config_txt: Iterable[str]) -> bool:
    return any(PWM_OVERLAY.match(line) for line in _lines(config_txt))


def serial_consoles(cmdline: str) -> list[str]:
    """The serial devices named by `console=` on a kernel command line (without the /dev/ prefix)."""
    out = []
    for word in cmdline.split():
        if word.startswith("console="):
            name = word[len("console=") :].split(",", 1)[0]
            if SERIAL_CONSOLE.match(name):
                out.append(name)
    return out


def cmdline_without_serial_console(cmdline: str) -> str:
    """The kernel command line with every serial `console=` removed (one line, as cmdline.txt wants)."""
    words = [w for w in cmdline.split() if not (w.startswith("console=") and serial_consoles(w))]
    return " ".join(words) + "\n"


def config_txt_with(text: str, lines: Iterable[str], board_name: str) -> str:
    """config.txt with every line of `lines` it lacks appended under a marker comment (idempotent)."""
    have = text.splitlines()
    missing = [line for line in lines if not has_line(have, line)]
    if not missing:
        return text
    out = text if not text or text.endswith("\n") else text + "\n"
    out += f"\n[all]\n{MARKER} {board_name}\n" + "".join(f"{line}\n" for line in missing)
    return out
