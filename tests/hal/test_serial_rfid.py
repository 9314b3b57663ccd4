"""The RDM6300 reader driver on a pseudo-terminal: the test writes what a reader sends to the master side,
the driver opens the slave's name with pyserial."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hal_fakes import Clock, Pty

from hal.interfaces import RfidReader
from hal.serial_rfid import Rdm6300Reader, rdm6300_frame


@pytest.fixture
def pty() -> Iterator[Pty]:
    p = Pty(settle_s=0.02)
    yield p
    p.close()


def poll_all(reader: Rdm6300Reader) -> list[str]:
    out = []
    while (uid := reader.poll()) is not None:
        out.append(uid)
    return out


def test_frame_format() -> None:
    assert rdm6300_frame("0F002A9B3C") == b"\x020F002A9B3C" + b"%02X" % (0x0F ^ 0x00 ^ 0x2A ^ 0x9B ^ 0x3C) + b"\x03"


def test_a_card_is_reported_once_while_it_stays_in_the_field(pty: Pty) -> None:
    clock = Clock()
    reader = Rdm6300Reader(pty.name, now=clock, repeat_s=1.5)
    try:
        assert isinstance(reader, RfidReader)
        assert reader.poll() is None
        for _ in range(5):  # the reader repeats the frame every ~65 ms
            pty.send(rdm6300_frame("0f002a9b3c"))
            clock.advance(0.065)
        assert poll_all(reader) == ["0F002A9B3C"]
        assert reader.frames == 5
        clock.advance(2.0)  # card taken away and presented again
        pty.send(rdm6300_frame("0F002A9B3C"))
        assert poll_all(reader) == ["0F002A9B3C"]
        pty.send(rdm6300_frame("1122334455"))  # another card right away
        assert poll_all(reader) == ["1122334455"]
    finally:
        reader.close()


def test_broken_frames_are_dropped_and_counted(pty: Pty) -> None:
    reader = Rdm6300Reader(pty.name)
    try:
        good = rdm6300_frame("0F002A9B3C")
        bad_checksum = good[:11] + b"00" + good[13:]
        not_hex = b"\x020F00ZZ9B3C00\x03"
        truncated = good[:7]  # the reader was reset mid-frame
        pty.send(b"\r\nnoise" + bad_checksum + not_hex + truncated + good)
        assert poll_all(reader) == ["0F002A9B3C"]
        assert reader.frames == 1
        assert reader.bad_frames == 3
        assert reader.discarded_bytes >= len(b"\r\nnoise")
    finally:
        reader.close()


def test_a_frame_split_over_reads(pty: Pty) -> None:
    reader = Rdm6300Reader(pty.name)
    try:
        frame = rdm6300_frame("A1B2C3D4E5")
        pty.send(frame[:5])
        assert reader.poll() is None
        pty.send(frame[5:])
        assert reader.poll() == "A1B2C3D4E5"
        assert reader.bad_frames == 0
    finally:
        reader.close()


def test_a_missing_port_never_raises_and_is_reopened(tmp_path: Path, pty: Pty) -> None:
    clock = Clock()
    link = tmp_path / "ttyRFID"
    reader = Rdm6300Reader(str(link), now=clock, reopen_s=5.0)
    try:
        assert reader.poll() is None
        assert not reader.online and reader.port_errors == 1
        link.symlink_to(pty.name)  # the USB reader is plugged in
        assert reader.poll() is None and reader.port_errors == 1  # not retried before reopen_s
        clock.advance(5.0)
        assert reader.poll() is None and reader.online
        pty.send(rdm6300_frame("0102030405"))
        assert reader.poll() == "0102030405"
        assert "RDM6300" in reader.version()
    finally:
        reader.close()
