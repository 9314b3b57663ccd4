#!/usr/bin/env bash
# Installs the controller on the board: a venv under /opt/chargepoint, the board file, the unit.
# Usage: sudo systemd/install.sh BOARD_FILE
set -euo pipefail
board=${1:?usage: install.sh BOARD_FILE}
src=$(cd "$(dirname "$0")/.." && pwd)
id -u chargepoint >/dev/null 2>&1 || useradd --system --groups gpio,i2c,dialout --home /var/lib/chargepoint chargepoint
install -d /opt/chargepoint /etc/chargepoint
python3 -m venv /opt/chargepoint/.venv
/opt/chargepoint/.venv/bin/pip install --quiet "$src"
/opt/chargepoint/.venv/bin/python -c "from board.loader import load_board; load_board('$board')"  # fail early
install -m 0644 "$board" /etc/chargepoint/board.toml
install -m 0644 "$src/systemd/chargepoint.service" /etc/systemd/system/chargepoint.service
systemctl daemon-reload
systemctl enable --now chargepoint.service
