"""N controllers as real processes on loopback (N = 3 here, `make scn N=8` for more): the network's offered
current, sampled from every station all the time, stays within SCN-TotalStaticCurrent while they share it,
while the coordinator is SIGKILLed (the members fall back to SCN-SocketSafeCurrent within the validity time),
and while it restarts (it raises nobody until what its previous life wrote has run out)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.scn.network import SAFE_A, VALIDITY_S, Network

N = int(os.environ.get("SCN_N", "3"))


@pytest.mark.timeout(60 + 30 * N)
async def test_network_limit_holds_through_a_coordinator_kill_and_restart(tmp_path: Path) -> None:
    net = Network(tmp_path, N)
    share = round(net.total / N, 2)
    try:
        await net.start()
        for i in range(N):
            await net.plug(i)
        await net.until(lambda: all(abs(o - share) < 0.1 for o in net.offers()), 30, f"every station at {share} A")
        await net.next_round()
        assert net.worst == pytest.approx(net.total, abs=0.1)

        await net.kill_coordinator()
        await net.until(lambda: all(o == SAFE_A for o in net.offers()[1:]), VALIDITY_S + 8,
                        "the members on their safe current")

        await net.restart_coordinator()
        await net.plug(0)
        await net.until(lambda: all(abs(o - share) < 0.1 for o in net.offers()), 30, f"every station at {share} A again")
        assert net.scn[0]["problems"] == {} and net.scn[1] == {"role": "member"}
        assert all(st["reachable"] for st in net.scn[0]["stations"].values())
    finally:
        await net.stop()
    print(f"SCN N={N}: {net.samples} samples of {N} stations, worst network sum {net.worst:.2f} A "
          f"of {net.total:.0f} A (at {net.worst_at})")
    assert not net.over, f"the network went over {net.total} A: {net.over[:5]}"
    assert net.samples > 50
