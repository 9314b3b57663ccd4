#!/usr/bin/env bash
# Installs the controller on the board: a venv under /opt/chargepoint, the board file, the boot settings the
# board file's [system] section states, the SoC watchdog, the unit.
# Usage: sudo systemd/install.sh BOARD_FILE        (then reboot once: config.txt and cmdline.txt changed)
set -euo pipefail
board=${1:?usage: install.sh BOARD_FILE}
src=$(cd "$(dirname "$0")/.." && pwd)
boot=/boot/firmware
[ -d "$boot" ] || boot=/boot
id -u chargepoint >/dev/null 2>&1 || useradd --system --groups gpio,i2c,dialout --home /var/lib/chargepoint chargepoint
install -d /opt/chargepoint /etc/chargepoint
python3 -m venv /opt/chargepoint/.venv
# lgpio comes from PyPI (pinned in pyproject.toml, manylinux aarch64 wheel); gpiozero uses it (the unit sets
# GPIOZERO_PIN_FACTORY=lgpio, so a missing lgpio fails loudly instead of falling back)
/opt/chargepoint/.venv/bin/pip install --quiet "$src"
/opt/chargepoint/.venv/bin/python -c "from board.loader import load_board; load_board('$board')"  # fail early
install -m 0644 "$board" /etc/chargepoint/board.toml
# config.txt lines of [system] (UARTs, PWM, audio off, dtparam=strict_gpiod, watchdog) and no serial console:
# the stock cmdline.txt puts the kernel console on serial0 = ttyAMA0, the P1 port
/opt/chargepoint/.venv/bin/chargepoint board-setup --board /etc/chargepoint/board.toml --boot "$boot"
# the getty a serial console brings would read the P1 telegrams too
systemctl mask serial-getty@ttyAMA0.service serial-getty@serial0.service
# the SoC watchdog (bcm2835-wdt): systemd feeds it; a hung kernel or systemd resets the CM4, and a reset
# returns every GPIO to an input (coil off through its gate pull-down)
install -d /etc/systemd/system.conf.d
printf '[Manager]\nRuntimeWatchdogSec=15\n' >/etc/systemd/system.conf.d/chargepoint-watchdog.conf
install -m 0644 "$src/systemd/chargepoint.service" /etc/systemd/system/chargepoint.service
systemctl daemon-reload
systemctl enable chargepoint.service
echo "installed: reboot now (config.txt, cmdline.txt and the watchdog take effect at boot)"
