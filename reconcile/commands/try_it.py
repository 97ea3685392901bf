"""Try it out: demo and simulate, on throwaway databases."""

from pathlib import Path
from typing import Annotated

import typer

from reconcile.commands.base import Json, Panel, clock, emit, option, out, say

PANEL = Panel("Try it out")


@PANEL.command()
def demo() -> None:
    """Replay the sample day with wattplan and with no scheduler, side by side; writes wattplan-demo.svg."""
    from reconcile.presentation.comparison import comparison_table, run_demo

    results, picture = run_demo(Path.cwd(), out.rich, clock())
    out.print(comparison_table(results))
    say(f"wrote {picture}: the load of both days against the limit (open it in a browser)")


@PANEL.command()
def simulate(
    scenario: Annotated[Path, typer.Argument(metavar="SCENARIO", help="A scenario file (docs/scenario.md).")],
    policy: Annotated[str, option("NAME", (
        "wattplan; immediate: every run starts when asked; optimal: the exact planner (needs the optimal extra)."),
        "wattplan")] = "wattplan",
    plot: Annotated[Path | None, typer.Option(metavar="FILE", help="Also write the picture (SVG) to FILE.")
                    ] = None,
    as_json: Json = False,
) -> None:
    """Replay a scenario with the real tick on a throwaway database, minute by minute; print its metrics."""
    from reconcile.presentation.comparison import comparison_table, result_as_dict
    from reconcile.presentation.svg import write_svg
    from reconcile.simulation.scenario import load_scenario
    from reconcile.simulation.simulate import simulate as replay

    result = replay(load_scenario(scenario), policy=policy)
    if plot is not None:
        write_svg(plot, [result])
    emit(result_as_dict(result), as_json, comparison_table([result]))
