"""The PN532 driver against the emulator: on a pseudo-terminal (HSU, pyserial) and on a fake SMBus (I2C).
Real time only passes while the emulator's thread answers; every timeout runs on the fake clock."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hal_fakes import Clock
from pn532_emulator import FakePn532Bus, PtyPn532

from hal.interfaces import RfidReader
from hal.pn532 import (
    ACK,
    CMD_IN_LIST_PASSIVE_TARGET,
    CMD_SAM_CONFIGURATION,
    FrameParser,
    HsuLink,
    Pn532Reader,
    command_frame,
    data_frame,
    parse_target,
    pn532_hsu,
    pn532_i2c,
    uid_tag,
)

UID4 = bytes.fromhex("04a1b2c3")
UID7 = bytes.fromhex("04112233445566")
UID10 = bytes.fromhex("0102030405060708090a")


@pytest.fixture
def emu() -> Iterator[PtyPn532]:
    e = PtyPn532()
    yield e
    e.close()


def run_until(reader: Pn532Reader, done: Callable[[], bool], seen: list[str] | None = None, limit_s: float = 10.0) -> list[str]:
    """Polls (as the housekeeping loop does) until `done()`; returns the idTags reported meanwhile. The fake
    clock does not move: only the emulator's real answers make progress."""
    out = seen if seen is not None else []
    deadline = time.monotonic() + limit_s
    while not done():
        uid = reader.poll()
        if uid is not None:
            out.append(uid)
        assert time.monotonic() < deadline, f"stuck: {reader.last_error}, frames {reader.frames}"
        time.sleep(0.0005)  # let the pty pass the bytes on (a wait for a condition, not an ordering)
    return out


def wait_for(done: Callable[[], bool], limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline
        time.sleep(0.0005)


def lists_done(reader: Pn532Reader, emu_count: Callable[[int], int], n: int) -> Callable[[], bool]:
    """True once the reader has had the answers to `n` more InListPassiveTarget commands."""
    base = emu_count(CMD_IN_LIST_PASSIVE_TARGET)
    frames = reader.frames

    def done() -> bool:
        return emu_count(CMD_IN_LIST_PASSIVE_TARGET) >= base + n and reader.frames >= frames + n

    return done


def hsu(emu: PtyPn532, clock: Clock, **kw: object) -> Pn532Reader:
    reader = pn532_hsu(emu.name, now=clock, **kw)  # type: ignore[arg-type]
    run_until(reader, lambda: reader.online)
    return reader


# --- frames ------------------------------------------------------------------------------------------------


def test_frame_checksums() -> None:
    assert command_frame(0x02) == bytes.fromhex("0000ff02fed4022a00")  # GetFirmwareVersion, UM0701-02 example
    assert command_frame(0x14, b"\x01\x14\x01") == bytes.fromhex("0000ff05fbd4140114010200")
    frame = data_frame(b"\xd5\x4b\x00")
    length, lcs = frame[3], frame[4]
    assert (length + lcs) & 0xFF == 0
    assert sum(frame[5:-1]) & 0xFF == 0


def test_parser_cuts_frames_out_of_noise_and_across_reads() -> None:
    p = FrameParser()
    answer = data_frame(b"\xd5\x03\x32\x01\x06\x07")
    events = p.feed(b"\x55\xaa\x13" + ACK + answer[:5])
    assert [e.kind for e in events] == ["ack"]
    assert p.discarded == 3
    events = p.feed(answer[5:])
    assert [(e.kind, e.data) for e in events] == [("frame", b"\xd5\x03\x32\x01\x06\x07")]
    bad_lcs = answer[:4] + b"\x00" + answer[5:]
    bad_dcs = answer[:-2] + b"\x00\x00"
    assert [e.kind for e in p.feed(bad_lcs + bad_dcs + b"\x00\x00\xff\x01\xff\x7f\x81\x00")] == ["bad", "error"]


def test_idtag_format_and_target_parsing() -> None:
    assert uid_tag(UID4) == "04A1B2C3"
    assert uid_tag(UID4, reverse=True) == "C3B2A104"
    assert uid_tag(UID7) == "04112233445566"
    assert parse_target(b"\x00") == b""
    assert parse_target(b"\x01\x01\x00\x44\x00\x07" + UID7) == UID7
    assert parse_target(b"\x01\x01\x00\x44\x00\x05" + UID7) is None  # no NFCID1 is 5 bytes long
    assert parse_target(b"\x01\x01\x00\x44\x00\x07" + UID7[:3]) is None  # cut short


# --- HSU on a pseudo-terminal ------------------------------------------------------------------------------


def test_hsu_wakes_the_chip_and_initialises(emu: PtyPn532) -> None:
    clock = Clock()
    reader = hsu(emu, clock)
    try:
        assert isinstance(reader, RfidReader)
        assert emu.core.wakeups == 1 and emu.received.startswith(b"\x55\x55\x00")
        assert emu.core.commands[:3] == [CMD_SAM_CONFIGURATION, 0x02, 0x32]
        assert emu.core.rejected == [] and emu.core.ignored_asleep == 0
        assert reader.version() == f"PN532 firmware 1.6 on HSU {emu.name}"
        assert run_until(reader, lists_done(reader, emu.core.count, 3)) == []  # no card: nothing reported
    finally:
        reader.close()


def test_the_chip_ignores_commands_without_wake_up(emu: PtyPn532) -> None:
    """The emulator is strict about LowVbat: a driver that skips the wake-up never comes online."""
    clock = Clock()
    link = HsuLink(emu.name)
    link.wake = lambda: None  # type: ignore[method-assign]
    reader = Pn532Reader(link, now=clock)
    try:
        for _ in range(30):
            reader.poll()
            clock.advance(0.1)
        assert not reader.online and reader.timeouts >= 3
        wait_for(lambda: emu.core.ignored_asleep >= 3)  # the emulator's thread has read them
        assert emu.core.commands == []
    finally:
        reader.close()


@pytest.mark.parametrize(("uid", "tag"), [(UID4, "04A1B2C3"), (UID7, "04112233445566"), (UID10, "0102030405060708090A")])
def test_a_card_held_in_the_field_is_reported_once(emu: PtyPn532, uid: bytes, tag: str) -> None:
    clock = Clock()
    reader = hsu(emu, clock)
    try:
        emu.core.card = uid
        seen = run_until(reader, lambda: reader.cards == 1)
        for _ in range(5):  # held for five reads, a tenth of a second apart
            run_until(reader, lists_done(reader, emu.core.count, 1), seen)
            clock.advance(0.1)
        assert seen == [tag]
        assert reader.cards == 1
    finally:
        reader.close()


def test_a_card_that_leaves_and_comes_back_is_reported_again(emu: PtyPn532) -> None:
    clock = Clock()
    reader = hsu(emu, clock, leave_s=0.5)
    try:

        def reads(n: int = 2) -> None:  # the command in flight may have been answered before a change: 2
            run_until(reader, lists_done(reader, emu.core.count, n), seen)

        seen: list[str] = []
        emu.core.card = UID4
        reads()
        emu.core.card = None  # away for a moment (a wobble): not a leave
        reads()
        clock.advance(0.2)
        emu.core.card = UID4
        reads()
        assert seen == ["04A1B2C3"]
        emu.core.card = None  # taken away for longer than leave_s
        for _ in range(4):
            reads()
            clock.advance(0.2)
        emu.core.card = UID4
        reads()
        emu.core.card = UID7  # another card straight away
        reads()
        assert seen == ["04A1B2C3", "04A1B2C3", "04112233445566"]
    finally:
        reader.close()


def test_reversed_byte_order_option(emu: PtyPn532) -> None:
    reader = hsu(emu, Clock(), reverse_uid=True)
    try:
        emu.core.card = UID7
        assert run_until(reader, lambda: reader.cards == 1) == ["66554433221104"]
    finally:
        reader.close()


def test_a_corrupted_answer_is_asked_for_again_with_a_nack(emu: PtyPn532) -> None:
    reader = hsu(emu, Clock())
    try:
        emu.core.card = UID4
        emu.core.corrupt = 1
        seen = run_until(reader, lambda: reader.cards == 1)
        assert seen == ["04A1B2C3"]
        assert reader.nacks_sent == 1 and emu.core.nacks == 1
        assert reader.bad_frames == 1 and reader.timeouts == 0 and reader.online
    finally:
        reader.close()


def test_answers_that_stay_corrupt_end_in_a_retry(emu: PtyPn532) -> None:
    reader = hsu(emu, Clock(), max_nacks=2)
    try:
        emu.core.card = UID4
        emu.core.corrupt = 3  # the answer and both repeats asked for are broken; the resent command is fine
        seen = run_until(reader, lambda: reader.cards == 1)
        assert seen == ["04A1B2C3"]
        assert reader.nacks_sent == 2 and reader.bad_frames == 3 and reader.online
    finally:
        reader.close()


def test_garbage_and_error_frames_on_the_line(emu: PtyPn532) -> None:
    reader = hsu(emu, Clock())
    try:
        emu.core.garbage = b"\xff\x00\x13\x37\x00\xff\x05"  # noise, with a start code whose LCS is wrong
        run_until(reader, lists_done(reader, emu.core.count, 1))
        emu.send_raw(b"\x42" * 10)  # noise between answers
        emu.core.error_next = True
        emu.core.card = UID10
        seen = run_until(reader, lambda: reader.cards == 1)
        assert seen == ["0102030405060708090A"]
        assert reader.error_frames == 1 and reader.discarded_bytes >= 15 and reader.online
    finally:
        reader.close()


def test_a_reader_that_goes_silent_is_reinitialised_with_backoff(emu: PtyPn532) -> None:
    clock = Clock()
    reader = hsu(emu, clock, ack_timeout_s=0.5, retries=2, backoff_s=1.0, max_backoff_s=4.0)
    try:
        emu.core.card = UID4
        assert run_until(reader, lambda: reader.cards == 1) == ["04A1B2C3"]
        emu.core.silent = True
        inits_at: list[float] = []
        inits = reader.inits
        t0 = clock.t
        while clock.t - t0 < 20.0:  # 20 s of housekeeping polls, 0.1 s apart
            reader.poll()
            if reader.inits != inits:
                inits, _ = reader.inits, inits_at.append(round(clock.t - t0, 1))
            clock.advance(0.1)
        assert not reader.online and reader.last_error is not None
        # each start: 3 sends x 0.5 s without an ACK, then the backoff 1, 2, 4, 4 s (capped) to the next
        assert inits_at[:4] == [1.5 + 1, 2.5 + 1.5 + 2, 6.0 + 1.5 + 4, 11.5 + 1.5 + 4]
        emu.core.silent = False  # the reader was power-cycled (asleep again) and comes back, the card still on it
        emu.core.asleep = True
        clock.advance(4.0)
        seen = run_until(reader, lambda: reader.online)
        run_until(reader, lists_done(reader, emu.core.count, 2), seen)
        assert seen == []  # held through the outage: not presented a second time
        assert emu.core.wakeups >= 5  # every start wakes the chip again
    finally:
        reader.close()


def test_a_missing_port_never_raises_and_is_retried(tmp_path: Path, emu: PtyPn532) -> None:
    clock = Clock()
    link = tmp_path / "ttyNFC"
    reader = pn532_hsu(str(link), now=clock, backoff_s=1.0)
    try:
        assert reader.poll() is None
        assert not reader.online and reader.failures == 1 and "ttyNFC" in (reader.last_error or "")
        link.symlink_to(emu.name)  # the USB reader is plugged in
        assert reader.poll() is None and reader.failures == 1  # not before the backoff
        clock.advance(1.0)
        run_until(reader, lambda: reader.online)
        emu.core.card = UID4
        assert run_until(reader, lambda: reader.cards == 1) == ["04A1B2C3"]
    finally:
        reader.close()


# --- I2C on a fake SMBus -----------------------------------------------------------------------------------


def i2c_run(reader: Pn532Reader, clock: Clock, done: Callable[[], bool], polls: int = 100) -> list[str]:
    out = []
    for _ in range(polls):
        if done():
            return out
        uid = reader.poll()
        if uid is not None:
            out.append(uid)
        clock.advance(0.01)
    raise AssertionError(f"not done after {polls} polls: {reader.last_error}")


def test_i2c_reads_wait_for_the_ready_bit() -> None:
    clock = Clock()
    bus = FakePn532Bus(busy_reads=2)
    reader = pn532_i2c(bus, 0x24, bus_number=1, now=clock)
    i2c_run(reader, clock, lambda: reader.online)
    assert bus.core.commands[:3] == [CMD_SAM_CONFIGURATION, 0x02, 0x32]
    assert bus.not_ready_reads >= 6  # every ACK and answer was polled for before it was ready
    assert reader.version() == "PN532 firmware 1.6 on I2C i2c-1 0x24"
    bus.core.card = UID7
    seen = i2c_run(reader, clock, lists_done(reader, bus.core.count, 3))
    assert seen == ["04112233445566"]
    assert reader.timeouts == 0 and bus.core.rejected == []
    writes = [d for op, d in bus.log if op == "write"]
    assert writes[0] == command_frame(CMD_SAM_CONFIGURATION, b"\x01\x14\x01")  # no wake-up bytes on I2C


def test_i2c_corrupt_answer_and_unplugged_chip() -> None:
    clock = Clock()
    bus = FakePn532Bus()
    reader = pn532_i2c(bus, now=clock, backoff_s=1.0)
    i2c_run(reader, clock, lambda: reader.online)
    bus.core.corrupt = 1
    bus.core.card = UID4
    assert i2c_run(reader, clock, lambda: reader.cards == 1) == ["04A1B2C3"]
    assert reader.nacks_sent == 1
    bus.unplugged = True  # address NACKed
    i2c_run(reader, clock, lambda: not reader.online)
    assert "Remote I/O" in (reader.last_error or "")
    failures = reader.failures
    bus.unplugged = False
    bus.core.card = None
    i2c_run(reader, clock, lambda: reader.online, polls=400)
    assert reader.failures >= failures


def test_i2c_wrong_address_stays_offline_without_raising() -> None:
    clock = Clock()
    bus = FakePn532Bus(address=0x24)
    reader = pn532_i2c(bus, 0x48, now=clock)
    for _ in range(50):
        assert reader.poll() is None
        clock.advance(0.1)
    assert not reader.online and reader.failures >= 2


def test_i2c_chip_that_never_gets_ready_is_reinitialised() -> None:
    clock = Clock()
    bus = FakePn532Bus()
    reader = pn532_i2c(bus, now=clock, backoff_s=1.0, ack_timeout_s=0.5, retries=1)
    i2c_run(reader, clock, lambda: reader.online)
    inits = reader.inits
    bus.core.silent = True  # hears its address, never sets the ready bit
    i2c_run(reader, clock, lambda: not reader.online, polls=200)
    assert reader.timeouts == 2 and "no ACK" in (reader.last_error or "")
    bus.core.silent = False
    bus.core.card = UID4
    assert i2c_run(reader, clock, lambda: reader.cards == 1, polls=300) == ["04A1B2C3"]
    assert reader.inits == inits + 1 and reader.online
