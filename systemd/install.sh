#!/usr/bin/env bash
# Installs the controller on the board: the first A/B firmware slot (a versioned venv under
# /opt/chargepoint/slots), the launcher the unit starts, the board file (after `chargepoint board check`), the
# boot settings the board file's [system] section states, the SoC watchdog, the unit; then `chargepoint board
# probe` talks to every device once (or says to run it after the reboot the boot settings need).
# Usage: sudo systemd/install.sh BOARD_FILE
# Exit status: 0 installed (and probed); 1 the board file failed its check (nothing installed); 3 installed,
# but devices failed the probe (the list says which and why).
set -euo pipefail
board=${1:?usage: install.sh BOARD_FILE}
src=$(cd "$(dirname "$0")/.." && pwd)
# the roots are variables for the test of this script (tests/board/test_install_sh.py), never set on a board
prefix=${CHARGEPOINT_PREFIX:-/opt/chargepoint}
etc=${CHARGEPOINT_ETC:-/etc}
boot=${CHARGEPOINT_BOOT:-/boot/firmware}
[ -d "$boot" ] || boot=/boot
slots=$prefix/slots
version=$(python3 -c "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb'))['project']['version'])" "$src/pyproject.toml")
slot=$slots/$version

id -u chargepoint >/dev/null 2>&1 || useradd --system --groups gpio,i2c,dialout --home /var/lib/chargepoint chargepoint
install -d "$slots" "$etc/chargepoint"
# the slot of this version (a venv; lgpio comes from PyPI, pinned in pyproject.toml, manylinux aarch64)
[ -x "$slot/bin/python" ] || python3 -m venv "$slot"
"$slot/bin/pip" install --quiet "$src"

# 1. the board file, checked before anything is installed: strict loader and cross-checks, file:line
if ! "$slot/bin/chargepoint" board check "$board"; then
    echo "install.sh: $board failed its check (above, with file:line); nothing was installed" >&2
    [ "$(readlink "$slots/current" 2>/dev/null)" = "$version" ] || rm -rf "$slot"
    exit 1
fi

# 2. install: the slot becomes current, the launcher (the unit's ExecStart path) starts the current slot and,
# while a new version is on trial, runs the boot guard first (controller/firmware/slots.py)
ln -sfn "$version" "$slots/.current.new" && mv -T "$slots/.current.new" "$slots/current"
if [ -d "$prefix/.venv" ] && [ ! -L "$prefix/.venv" ] && [ -x "$prefix/.venv/bin/python" ]; then
    rm -rf "$prefix/.venv"  # a venv of an earlier, single-slot install: the launcher takes its place
fi
"$slot/bin/python" -m controller.firmware.guard --write-launcher "$prefix/.venv/bin/chargepoint" "$slots"
# the service (user chargepoint) writes new slots during a firmware update
chown chargepoint: "$slots"
install -m 0644 "$board" "$etc/chargepoint/board.toml"
# config.txt lines of [system] (UARTs, PWM, audio off, dtparam=strict_gpiod, watchdog) and no serial console:
# the stock cmdline.txt puts the kernel console on serial0 = ttyAMA0, the P1 port
setup=$("$slot/bin/chargepoint" board-setup --board "$etc/chargepoint/board.toml" --boot "$boot")
echo "$setup"
# the getty a serial console brings would read the P1 telegrams too
systemctl mask serial-getty@ttyAMA0.service serial-getty@serial0.service
# the SoC watchdog (bcm2835-wdt): systemd feeds it; a hung kernel or systemd resets the CM4, and a reset
# returns every GPIO to an input (coil off through its gate pull-down)
install -d "$etc/systemd/system.conf.d" "$etc/systemd/system"
printf '[Manager]\nRuntimeWatchdogSec=15\n' >"$etc/systemd/system.conf.d/chargepoint-watchdog.conf"
install -m 0644 "$src/systemd/chargepoint.service" "$etc/systemd/system/chargepoint.service"
systemctl daemon-reload
systemctl enable chargepoint.service

# 3. the probe: every device once, with the controller stopped (it owns the devices while it runs)
probe=("$prefix/.venv/bin/chargepoint" board probe "$etc/chargepoint/board.toml")
case "$setup" in
*reboot*)
    echo "installed $version: reboot now (config.txt, cmdline.txt and the watchdog take effect at boot);"
    echo "then check the devices with: systemctl stop chargepoint; ${probe[*]}; systemctl start chargepoint"
    exit 0 ;;
esac
systemctl stop chargepoint.service
if ! "${probe[@]}"; then
    echo "install.sh: installed $version, but the devices marked FAIL above did not answer as they must;" >&2
    echo "fix the wiring or the board file and run: ${probe[*]}" >&2
    exit 3
fi
systemctl start chargepoint.service
echo "installed $version: every device answered; the controller is running"
