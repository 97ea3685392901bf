"""Where inside its window an uninterrupted run should start, by objective. PURE.

`asap` takes the first start that fits (the thesis's rule: start now when power is free).
`cheapest` takes the start of least import cost, `solar` the start that draws least from the
grid (most PV surplus used). Both look only inside the request's window (its deadline); when no
start fits there, the run starts at the first fit after it and its lateness is reported. Ties
go to the earlier start, so an unchanged problem gives an unchanged plan.
"""

from collections.abc import Callable, Iterable

from reconcile.domain import Run
from reconcile.grid import Grid


def chooser(objective: str, grid: Grid, run: Run, capacity: list[float]) -> Callable | None:
    """A function picking a start from the feasible ones, or None for first fit."""
    if objective == "asap":
        return None
    last_start = _last_start_in_window(grid, run)
    slot_h = grid.slot_s / 3600

    def grid_energy(k: int, energies: list[float]) -> float:
        """Wh imported (cheapest: weighted by price) if the run starts in slot k."""
        total = 0.0
        for j, energy in enumerate(energies):
            # capacity − limit = PV − base − what is already placed: the PV still unused
            surplus_wh = max(0.0, capacity[k + j] - grid.limit_w) * slot_h
            total += max(0.0, energy - surplus_wh) * (grid.price[k + j] if objective == "cheapest" else 1.0)
        return total

    def cost(k: int, first: list[float], rest: list[float]) -> float:
        return grid_energy(k, first if k == 0 else rest)

    def choose(starts: Iterable[int], first: list[float], rest: list[float]) -> int | None:
        best = None
        for k in starts:
            if k > last_start:
                return k if best is None else best[1]
            candidate = (round(cost(k, first, rest), 9), k)
            best = candidate if best is None or candidate < best else best
        return None if best is None else best[1]

    return choose


def _last_start_in_window(grid: Grid, run: Run) -> int:
    """The last slot a start may take and still end by the deadline (horizon's end if none)."""
    if run.latest_end is None:
        return grid.horizon - 1
    latest = run.latest_end.timestamp() - (run.shape.duration_s - run.progress_s)
    return -1 if latest < grid.now else grid.slot_holding(latest + 1e-6)
