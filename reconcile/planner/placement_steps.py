"""What a pausable run draws next, by progress, remembered for one placement. PURE.

Slot-by-slot placement (`placement.place_slots`) asks, at every slot it tries, what the run's
next slot of profile needs and whether a stretch of the minimum run fits from there. Away from
slot 0 (whose length depends on `now`) those depend only on the progress `done`, and a run is
off for most of the slots tried, so the same few progress values come back thousands of times,
and again in every attempt of `place_slots_ranked`. `Steps` computes each once.

The values are exactly those of the straightforward computation (same expressions, same order
of float operations), so a plan does not change by being computed from them.
"""

from reconcile.planner.grid import EPS, Grid, energy_between, peak_between

Slot = tuple[float, float, float]  # (seconds, peak W, energy Wh) of one slot entered at a progress


class Steps:
    """Per-progress profile quantities of one run on one grid, for any slot but slot 0."""

    __slots__ = ("grid", "shape", "run", "_slots", "_stretches", "_rooms")

    def __init__(self, grid: Grid, shape, run) -> None:
        self.grid, self.shape, self.run = grid, shape, run
        self._slots: dict[float, Slot] = {}
        self._stretches: dict[float, tuple] = {}
        self._rooms: dict[float, float] = {}

    def slot(self, done: float) -> Slot:
        """The slot entered at progress `done`: how long the run draws in it, its peak and energy."""
        got = self._slots.get(done)
        if got is None:
            shape = self.shape
            length = min(self.grid.slot_s, shape.duration_s - done)
            got = length, peak_between(shape, done, done + length), energy_between(shape, done, done + length)
            self._slots[done] = got
        return got

    def room(self, done: float) -> float:
        """The capacity (less EPS) a slot needs for the run to draw its next slot of profile there."""
        got = self._rooms.get(done)
        if got is None:
            shape = self.shape
            got = peak_between(shape, done, min(done + self.grid.slot_s, shape.duration_s)) - EPS
            self._rooms[done] = got
        return got

    def stretch(self, done: float) -> tuple[list[tuple[float, Slot]], list[float], float]:
        """A new stretch from progress `done` long enough for the minimum run: its slots in order as
        (progress entering it, slot), each slot's need (peak less EPS), and the smallest need."""
        got = self._stretches.get(done)
        if got is None:
            target = min(self.run.min_run_s, self.run.duration_s - done)
            template, ran = [], 0.0
            while True:
                step = self.slot(done + ran)
                template.append((done + ran, step))
                ran += step[0]
                if ran >= target - EPS:
                    break
            needs = [step[1] - EPS for _, step in template]
            got = template, needs, min(needs)
            self._stretches[done] = got
        return got
