"""Joint placement, stretch moves: a pausable run's slots exchanged one at a time. PURE.

Re-placed whole (`improve_place.best_slots`), a pausable run takes the cheapest slots for its
mean energy that hold it; where its minimum run or pause rules that set out, it falls back to
the timetable's rule ("the fewest of its best-ranked slots, earliest first"), which may keep dear
slots. Here, with every other run where it is, one of its slots (its dearest first) is exchanged
for one free slot it fits in (the cheapest first): placed slot by slot in exactly those slots
(`improve_place.in_slots`: minimum run and pause, its pause, capacity) and kept by the pass's
rule (`improve_board.settle`). So a run moves stretch by stretch where a whole new set of slots
would break its minimum run. Never slot 0 (a run whose cheapest slots would start it now is left
alone), never a slot its appliance's other runs hold, never past its deadline or the horizon.
At most `EXCHANGES` candidates per run and call.
"""

import math

from reconcile.planner.domain import Run
from reconcile.planner.improve_board import Board, settle
from reconcile.planner.improve_place import cheapest, in_slots, slot_added, window_hi

EXCHANGES = 6  # single-slot exchanges tried per run and call


def restack(board: Board, run: Run, now: float) -> bool:
    """Exchange one slot of a placed pausable run for a cheaper one; True when it moved."""
    old = board.release(run)
    view = board.view(run, board.capacity)  # its appliance's other slots closed
    added = slot_added(board, run, old, view, window_hi(board, run, old), now)
    mine = {u.slot for u in old}
    if cheapest(added, len(old))[:1] == [0]:
        board.take(run, old)
        return False  # it would start now: left where it is (`improve_place.best_slots`)
    added.pop(0, None)
    for slots in _exchanges(added, mine):
        board.count(run, len(slots))
        uses = in_slots(board, run, view, slots, old[0].offset, now)
        if not uses:
            continue
        if settle(board, [(run, old, uses)]):
            return True  # one move per call: the pass calls again in its next round
        board.release(run)  # `settle` put the old placement back
    board.take(run, old)
    return False


def _exchanges(added: dict[int, int], mine: set[int]):
    """Slot sets with one of `mine` (dearest first) swapped for a cheaper free one (cheapest
    first; ties: the earlier slot)."""
    free = sorted((k for k in added if k not in mine), key=lambda k: (added[k], k))
    tried = 0
    for out in sorted(mine, key=lambda k: (-added.get(k, math.inf), -k)):
        for into in free:
            if added[into] >= added.get(out, math.inf) or tried >= EXCHANGES:
                break
            tried += 1
            yield sorted((mine - {out}) | {into})
        if tried >= EXCHANGES:
            return
