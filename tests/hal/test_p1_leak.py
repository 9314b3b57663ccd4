"""The dsmr-parser 1.11.2 ProfileGenericParser leak (issue 11): without the workaround in hal/p1_meter.py the
power failure log's parser list grows with every telegram; with it, 10 000 telegrams leave memory flat."""

from __future__ import annotations

import copy
import gc
import sys

from dsmr_parser.parsers import ProfileGenericParser, TelegramParser
from hal_fakes import dsmr5_telegram

from hal.p1_meter import SPECS, P1Meter

N = 10_000


def profile_parsers(parser: TelegramParser) -> list[ProfileGenericParser]:
    return [o["value_parser"] for o in parser.telegram_specification["objects"]
            if isinstance(o["value_parser"], ProfileGenericParser)]


def test_the_pinned_library_still_leaks_without_the_workaround() -> None:
    parser = TelegramParser(copy.deepcopy(SPECS["v5"]))
    text = dsmr5_telegram().decode("latin-1")
    (pg,) = profile_parsers(parser)
    before = len(pg.value_formats)
    for _ in range(50):
        parser.parse(text)
    assert len(pg.value_formats) >= before + 50 * 4  # drop the workaround once this fails (fixed upstream)


def test_ten_thousand_telegrams_with_bounded_growth() -> None:
    meter = P1Meter("loop://", start=False)
    data = dsmr5_telegram()
    (pg,) = profile_parsers(meter.parser)
    for _ in range(1000):  # warm up caches and the reading object
        meter.feed(data)
    gc.collect()
    objects = len(gc.get_objects())
    list_bytes = sys.getsizeof(pg.value_formats)
    for _ in range(N - 1000):
        meter.feed(data)
    gc.collect()
    assert meter.telegrams == N and meter.parse_errors == 0
    assert len(pg.value_formats) <= 2 + 2 * 10  # the head plus at most one telegram's ten buffer entries
    assert sys.getsizeof(pg.value_formats) <= max(list_bytes, 1024)
    assert len(gc.get_objects()) - objects < 500  # no other per-telegram garbage kept
    assert meter.read().currents_a[0] == 12.0
    # the module-level specification is untouched: other parsers (and other meters) do not share the list
    assert all(len(p.value_formats) == 2 for p in [o["value_parser"] for o in SPECS["v5"]["objects"]
                                                    if isinstance(o["value_parser"], ProfileGenericParser)])
