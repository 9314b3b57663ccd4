"""The station's share of current for each socket (pure): Station-MaxCurrent is never exceeded by what the
cars may draw, including the 5 s a car has to follow a lowered PWM.

The main process allocates current too (load balancing); this is the loop's own second line, applied in the
tick a limit changes. Steps:
1. Demands (what each socket would offer without the station cap; 0 when no car asks) are filled fairly
   (water-filling: nobody gets more than it asks, the rest is split equally).
2. A share below 6 A cannot charge; the smallest such share is dropped to 0 and the rest refilled, so two
   cars on 10 A get 10 + 0 rather than 5 + 5 (the lower connector id wins a tie).
3. Each socket's cap also leaves room for what the other sockets' cars may still draw (their highest offer
   of the last 5 s): a new car starts only when the others have had time to follow their lowered offers.
"""

from __future__ import annotations

from controller.evse.pwm import MIN_CURRENT_A


def fair_fill(total: float, demands: dict[int, float]) -> dict[int, float]:
    out = {cid: 0.0 for cid in demands}
    active = {cid: d for cid, d in demands.items() if d > 0.0}
    while True:
        remaining = max(0.0, total)
        fill: dict[int, float] = {}
        order = sorted(active.items(), key=lambda kv: (kv[1], kv[0]))
        for i, (cid, d) in enumerate(order):
            give = min(d, remaining / (len(order) - i))
            fill[cid] = give
            remaining -= give
        small = [cid for cid, g in fill.items() if g < MIN_CURRENT_A]
        if not small:
            out.update(fill)
            return out
        drop = min(small, key=lambda c: (fill[c], -c))  # the smallest share; a tie drops the higher id
        del active[drop]


def station_caps(
    station_max_a: float | None, demands: dict[int, float], may_draw: dict[int, float]
) -> dict[int, float]:
    """Per socket, the most it may offer now. `may_draw`: each socket's highest offer of the last 5 s."""
    if station_max_a is None:
        return dict(demands)
    fill = fair_fill(station_max_a, demands)
    caps: dict[int, float] = {}
    for cid in demands:
        others = sum(max(may_draw.get(j, 0.0), fill[j]) for j in demands if j != cid)
        caps[cid] = max(0.0, min(fill[cid], station_max_a - others))
    return caps
