"""The whole A/B path on the simulated board with temporary directories: UpdateFirmware downloads a bundle over
HTTP, the installer builds the new slot from it and switches `current` on trial, the station restarts into it
(a new Station on the same state, as systemd would start the new slot); online with a ticking loop, the trial
is confirmed and Installed is reported. A new version that never gets BootNotification Accepted is rolled back
at its deadline (fake clock) and the restored version reports InstallationFailed."""

from __future__ import annotations

import asyncio
import base64
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ocpp.v16 import call

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_slots import MAKE_SLOT, good_bundle, make_slot  # noqa: E402

from board.loader import builtin_board, load_board  # noqa: E402
from controller.app import Station, StationOptions  # noqa: E402
from controller.clock import FakeClock  # noqa: E402
from controller.firmware.ab import SLOT_RESTART  # noqa: E402
from controller.firmware.slots import Slots  # noqa: E402
from tests.conftest import Rig, start_rig, stop_rig, until  # noqa: E402
from tests.ocpp.profiles.conftest import HttpFiles, statuses  # noqa: E402
from tests.security.pki import Manufacturer, pem, sign_image  # noqa: E402
from tests.security.support import install_roots  # noqa: E402

RETRIEVE = "2020-01-01T00:00:00Z"  # in the past on the fake clock too: download at once
MAKER = Manufacturer()  # its root is installed on the station: SignedUpdateFirmware images are signed by it


def ab_board(tmp_path: Path, root: Path) -> Path:
    sim = builtin_board("sim").read_text()
    maker = tmp_path / "make_slot.py"
    maker.write_text(MAKE_SLOT)
    section = (
        '[firmware]\nmethod = "ab"\nallow_unsigned = true\n'
        f'slots_dir = "{root}"\n'
        f'slot_install_command = ["{{python}}", "{maker}", "{{slot}}", "{{bundle}}", "{{version}}"]\n'
        "confirm_within_s = 60\nmax_starts = 3\n\n"
    )
    path = tmp_path / "ab-board.toml"
    path.write_text(sim[: sim.index("[firmware]")] + section + sim[sim.index("[defaults]") :])
    return path


class Ab:
    def __init__(self, rig: Rig, clock: FakeClock, board: Path, slots: Slots, tmp_path: Path) -> None:
        self.rig, self.clock, self.board, self.slots, self.tmp_path = rig, clock, board, slots, tmp_path

    async def restart(self) -> str | None:
        """As systemd starts the (new) current slot: a new Station on the same state directory."""
        old = self.rig.station
        await asyncio.wait_for(old.reset_done.wait(), 15)
        kind = old.reset_kind
        after = len(self.rig.bo.records)
        station = Station(load_board(self.board), self.tmp_path / "state",
                          StationOptions(backoffice_url=self.rig.bo.url, identity=self.rig.identity),
                          clock=self.clock, trace=self.rig.trace.append)
        self.rig.station = station
        self.rig.sim.station = station
        await station.start()
        await self.rig.bo.wait_for("BootNotification", self.rig.identity, after=after, timeout=15)
        return kind

    async def advance_until(self, pred: object, what: str) -> None:
        for _ in range(200):
            if callable(pred) and pred():
                return
            await self.clock.advance(1.0)
            await asyncio.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}: firmware statuses {fw_statuses(self)}")


@pytest.fixture
async def ab(tmp_path: Path) -> AsyncIterator[Ab]:
    root = tmp_path / "slots"
    make_slot(root, "0.1.0")
    slots = Slots(root)
    slots.switch("0.1.0")
    board = ab_board(tmp_path, root)
    clock = FakeClock(wall=datetime.now(UTC))  # the signing certificates are valid now
    install_roots(tmp_path / "state", manufacturer=MAKER.root.cert)
    rig = await start_rig(tmp_path, board=str(board.with_suffix("")), clock=clock)
    await until(lambda: rig.station.link.online, 10, "online")
    try:
        yield Ab(rig, clock, board, slots, tmp_path)
    finally:
        await stop_rig(rig)


async def update(ab: Ab, http_files: HttpFiles, version: str) -> None:
    http_files.files[f"/fw/chargepoint-{version}.tar.gz"] = good_bundle(version)
    await ab.rig.bo.call(ab.rig.identity, call.UpdateFirmware(
        location=f"{http_files.url}/fw/chargepoint-{version}.tar.gz", retrieve_date=RETRIEVE))


def fw_statuses(ab: Ab) -> list[str]:
    return statuses(ab.rig, "FirmwareStatusNotification")


async def test_a_new_slot_that_comes_up_is_confirmed_and_reported_installed(ab: Ab, http_files: HttpFiles) -> None:
    await update(ab, http_files, "0.2.0")
    assert await ab.restart() == SLOT_RESTART
    assert (ab.slots.current(), ab.slots.previous()) == ("0.2.0", "0.1.0")
    assert (ab.slots.root / "0.2.0" / "chargepoint-0.2.0-py3-none-any.whl").exists()  # built from the bundle
    await until(lambda: ab.rig.station.link.online, 10, "online after the restart")
    await until(lambda: ab.rig.station.notifier.ticking, 10, "the new station's control loop ticking")
    await ab.advance_until(lambda: "Installed" in fw_statuses(ab), "Installed")
    assert fw_statuses(ab) == ["Downloading", "Downloaded", "Installing", "Installed"]
    assert ab.slots.trial() is None and ab.slots.current() == "0.2.0"


async def test_a_new_slot_that_never_gets_accepted_is_rolled_back(ab: Ab, http_files: HttpFiles) -> None:
    await update(ab, http_files, "0.2.0")
    ab.rig.bo.boot_status = "Rejected"  # the new version cannot get online
    assert await ab.restart() == SLOT_RESTART
    assert ab.slots.current() == "0.2.0"
    await ab.advance_until(lambda: ab.rig.station.reset_done.is_set(), "the rollback at the deadline")
    assert ab.slots.current() == "0.1.0" and ab.slots.trial() is None
    ab.rig.bo.boot_status = "Accepted"
    assert await ab.restart() == SLOT_RESTART  # into the restored slot
    await until(lambda: "InstallationFailed" in fw_statuses(ab), 10, "InstallationFailed")
    assert fw_statuses(ab) == ["Downloading", "Downloaded", "Installing", "InstallationFailed"]
    assert any("rolled back" in line for line in ab.rig.trace)


async def test_a_bad_bundle_installs_nothing(ab: Ab, http_files: HttpFiles) -> None:
    http_files.files["/fw/chargepoint-0.3.0.tar.gz"] = b"not a bundle"
    await ab.rig.bo.call(ab.rig.identity, call.UpdateFirmware(
        location=f"{http_files.url}/fw/chargepoint-0.3.0.tar.gz", retrieve_date=RETRIEVE))
    await until(lambda: "InstallationFailed" in fw_statuses(ab), 10, "InstallationFailed")
    assert ab.slots.current() == "0.1.0" and ab.slots.trial() is None
    assert sorted(p.name for p in ab.slots.root.iterdir()) == ["0.1.0", "current"]
    assert not ab.rig.station.reset_done.is_set()


async def signed_update(ab: Ab, http_files: HttpFiles, version: str, tamper: bool = False) -> None:
    image = good_bundle(version)
    http_files.files[f"/fw/chargepoint-{version}.tar.gz"] = image
    key, signer = MAKER.signer()
    signature = sign_image(key, image + (b"x" if tamper else b""))
    res = await ab.rig.bo.call(ab.rig.identity, call.SignedUpdateFirmware(request_id=11, firmware={
        "location": f"{http_files.url}/fw/chargepoint-{version}.tar.gz", "retrieve_date_time": RETRIEVE,
        "signing_certificate": pem(signer), "signature": base64.b64encode(signature).decode()}))
    assert res.status == "Accepted"


def signed_statuses(ab: Ab) -> list[str]:
    return statuses(ab.rig, "SignedFirmwareStatusNotification")


async def test_a_signed_bundle_is_verified_installed_and_confirmed(ab: Ab, http_files: HttpFiles) -> None:
    await signed_update(ab, http_files, "0.2.0")
    assert await ab.restart() == SLOT_RESTART
    await until(lambda: ab.rig.station.notifier.ticking, 10, "the new station's control loop ticking")
    await ab.advance_until(lambda: "Installed" in signed_statuses(ab), "Installed")
    assert signed_statuses(ab) == ["Downloading", "Downloaded", "SignatureVerified", "Installing",
                                   "InstallRebooting", "Installed"]
    assert {r.payload["requestId"] for r in ab.rig.bo.records if r.action == "SignedFirmwareStatusNotification"} == {11}
    assert ab.slots.current() == "0.2.0"


async def test_a_bundle_with_a_bad_signature_builds_no_slot(ab: Ab, http_files: HttpFiles) -> None:
    await signed_update(ab, http_files, "0.2.0", tamper=True)
    await until(lambda: "InvalidSignature" in signed_statuses(ab), 10, "InvalidSignature")
    assert signed_statuses(ab) == ["Downloading", "Downloaded", "InvalidSignature"]
    assert sorted(p.name for p in ab.slots.root.iterdir()) == ["0.1.0", "current"]
    assert not ab.rig.station.reset_done.is_set()
