"""Allocation of current to the sockets (pure): the offer of each socket from the station's limits.

Each socket gets at most its own maximum (ConnectorN-MaxCurrent, the board's rating and any smart charging
limit); sockets that charge share Station-MaxCurrent equally, and what one cannot use goes to the others.
"""

from __future__ import annotations

from collections.abc import Mapping


def allocate(station_max: float, socket_max: Mapping[int, float], active: set[int]) -> dict[int, float]:
    """Current (A) offered to each socket. Inactive sockets are offered their own maximum capped by the
    station maximum, so a car that plugs in sees a sane offer before the next allocation."""
    result = {cid: min(m, station_max) for cid, m in socket_max.items()}
    want = {cid: socket_max[cid] for cid in active if cid in socket_max}
    remaining = station_max
    # water-filling: satisfy the smallest wants first, share the rest equally
    for i, (cid, w) in enumerate(sorted(want.items(), key=lambda kv: kv[1])):
        share = remaining / (len(want) - i)
        give = min(w, share)
        result[cid] = round(give, 2)
        remaining -= give
    return result
