# Set-up and entry points. `make demo` and `make test` work on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench soak fuzz fuzz-energy mutate fuzz-loop lint typecheck clean keys-doc tools hil scn screenshots

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) || { \
		echo "python3 -m venv failed: installing Debian's python3-venv"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m controller demo

INTEROP := tests/interop/node_modules/.installed

# the project's strict back office (tests/interop/csms.js) runs on node with ocpp-rpc, pinned in package.json.
# Without npm the interop tests are skipped, and said so; once `npm ci` succeeded they must run (never skip).
$(INTEROP): tests/interop/package.json tests/interop/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd tests/interop && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.installed; \
	else echo "npm not found: the strict back office interop tests will be skipped"; fi

# tests/systemd/test_systemd_unit.py runs `systemd-analyze verify` on the unit: Debian's systemd package has it
SYSTEMD_ANALYZE := $(shell command -v systemd-analyze 2>/dev/null)
# tests/mqtt start Debian's mosquitto broker (in /usr/sbin, not on every PATH); they fail, not skip, without it
MOSQUITTO := $(shell PATH="$$PATH:/usr/sbin" command -v mosquitto 2>/dev/null)

tools:
ifeq ($(SYSTEMD_ANALYZE),)
	@echo "systemd-analyze not found: installing Debian's systemd package"
	DEBIAN_FRONTEND=noninteractive apt-get install -y systemd || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y systemd; }
endif
ifeq ($(MOSQUITTO),)
	@echo "mosquitto not found: installing Debian's mosquitto package (the MQTT tests' broker)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto; }
endif
	@# tests/web/test_browser.py drives Debian's chromium through chromium-driver (selenium, pinned)
	@test -x /usr/bin/chromedriver || { echo "chromedriver not found: installing Debian's chromium and chromium-driver"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver || { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; }; }

# two workers (pytest-xdist): most tests wait on processes and sockets, so the suite takes about half the time.
# `PYTEST_WORKERS=0 make test` runs it in one process.
PYTEST_WORKERS ?= 2
test: $(STAMP) $(INTEROP) tools
	$(PY) -m pytest -n $(PYTEST_WORKERS)
	$(VENV)/bin/ruff check controller hal board hil tests bench
	$(VENV)/bin/mypy controller hal board hil bench

# the Smart Charging Network with N controllers as real processes (make test runs N = 3)
N ?= 8
scn: $(STAMP)
	SCN_N=$(N) $(PY) -m pytest tests/scn/test_network_e2e.py --timeout=600 -q -s

# the end-to-end energy property test, long and random (a failure is kept in .hypothesis/ and replayed first)
ENERGY_FUZZ_EXAMPLES ?= 400
ENERGY_FUZZ_SECONDS ?= 600
fuzz-energy: $(STAMP)
	ENERGY_FUZZ_EXAMPLES=$(ENERGY_FUZZ_EXAMPLES) ENERGY_FUZZ_SECONDS=$(ENERGY_FUZZ_SECONDS) \
		$(PY) -m pytest tests/energy/test_energy_property.py --timeout=0 -q

# a hand-listed set of mutants of the safety modules, each run against the tests that must kill it
mutate: $(STAMP)
	$(PY) -m tests.evse.mutants

# the model-based test of the control loop with a bigger, random profile (the suite runs 200 x 200)
fuzz-loop: $(STAMP)
	FUZZ_EXAMPLES=2000 FUZZ_STEPS=400 FUZZ_RANDOM=1 $(PY) -m pytest -q -p no:cacheprovider --timeout=0 tests/evse/test_model.py --hypothesis-show-statistics

bench: $(STAMP)
	$(PY) -m bench

MINUTES ?= 10
# one controller on the simulated double board for MINUTES: random sessions, faults, back office outages,
# SIGKILLs; prints RSS/fds over time, bytes written, and checks the journal against the back office
soak: $(STAMP)
	$(PY) -m bench.soak $(MINUTES)

SECONDS ?= 60
# property-based fuzzing (hypothesis) of the parsers facing the outside; a short run is part of `make test`
fuzz: $(STAMP)
	$(PY) -m tests.fuzz $(SECONDS)

# the HIL scenarios: RIG=virtual (the controller on the simulated board, as in `make test`) or RIG=real (on the
# physical rig's Raspberry Pi, docs/hil-rig.md; HIL_IDENTITY, HIL_BACKOFFICE_HOST/PORT as the board is set up)
RIG ?= virtual
hil: $(STAMP)
	@if [ "$(RIG)" = real ]; then HIL_RIG=real $(PY) -m pytest -q tests/hil/test_hil_real.py; \
	else $(PY) -m pytest -q tests/hil/test_hil_virtual.py tests/hil/test_real_rig.py; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check controller hal board hil tests bench
	$(VENV)/bin/mypy controller hal board hil bench

# docs/screenshots/status.png and configuration.png, taken by headless chromium from a simulated station
screenshots: $(STAMP) tools
	$(PY) -m tests.web.screenshots docs/screenshots

keys-doc: $(STAMP)
	$(PY) -m controller keys --markdown

clean:
	rm -rf $(VENV) build *.egg-info
