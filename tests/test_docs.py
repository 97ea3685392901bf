"""The README documents every command, option and JSON key; its Quick start is what CI runs."""

import dataclasses
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import app
from reconcile.shell import timetable_view, views
from reconcile.shell.homes import HomeListView

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
CLI_SECTION = README.split("<!-- section:cli -->")[1].split("<!-- /section:cli -->")[0]
USAGE_SECTION = README.split("<!-- section:usage -->")[1].split("<!-- /section:usage -->")[0]


def commands(group=None, prefix=("wattplan",)):
    """(path, click command) for every command and group, depth first."""
    group = group or typer.main.get_command(app)
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if hasattr(command, "commands"):
            yield from commands(command, (*prefix, name))


COMMANDS = list(commands())
IDS = [" ".join(path) for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_has_help_text(path, command):
    assert command.help and command.help.strip()
    for parameter in command.params:
        if parameter.name != "help":
            assert getattr(parameter, "help", None), f"{' '.join(path)} {parameter.name} has no help"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_every_command_and_option_is_in_the_command_reference(path, command):
    assert f"`{' '.join(path)}" in CLI_SECTION
    for parameter in command.params:
        for flag in getattr(parameter, "opts", []):
            if flag.startswith("--") and flag != "--help":
                assert flag in CLI_SECTION, f"{flag} of {' '.join(path)} is not in the README"


def test_the_global_options_are_documented():
    root = typer.main.get_command(app)
    for parameter in root.params:
        for flag in parameter.opts:
            assert flag == "--help" or flag in CLI_SECTION


@pytest.mark.parametrize("view", [
    views.ApplianceView, views.ProfileView, views.ExecutionView, views.StatusView, views.HomeView,
    views.TickView, views.DecisionView, views.StateView, timetable_view.TimetableView, timetable_view.SlotView,
    timetable_view.EntryView, HomeListView])
def test_every_json_key_is_documented(view):
    section = CLI_SECTION.split("### JSON output")[1]
    for field in dataclasses.fields(view):
        assert re.search(rf"[{{ ]{field.name}[,}}]", section), f"{view.__name__}.{field.name}"


def test_every_exit_code_is_documented():
    from reconcile.errors import ExitStatus

    table = CLI_SECTION.split("### Exit codes")[1]
    for status in ExitStatus:
        assert f"| {int(status)} |" in table


def quick_start() -> list[str]:
    section = README.split("## Quick start")[1].split("\n## ")[0]
    return re.findall(r"```sh\n(.*?)\n```", section, re.S)


def test_the_quick_start_is_two_commands_and_ci_runs_the_second():
    first, second = quick_start()
    assert "\n" not in first and "\n" not in second
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/wattplan ")
    assert second == ("sh tests/install-servers.sh && python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' "
                      "&& .venv/bin/python -m pytest -q")
    assert second in (ROOT / ".ci" / "run").read_text()


def test_the_quick_start_runs_a_wattplan_command_that_exists():
    command = quick_start()[0].split(".venv/bin/wattplan ")[1].split()[0]
    assert command in {path[1] for path, _ in COMMANDS}


def test_the_usage_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("WATTPLAN_DB", str(tmp_path / "usage.db"))
    monkeypatch.chdir(tmp_path)  # the example's prices.csv, in the documented format
    (tmp_path / "prices.csv").write_text("timestamp,value\n2026-06-30T10:00,0.30\n2026-06-30T11:00,0.10\n")
    block = re.search(r"```sh\n(.*?)```", USAGE_SECTION, re.S).group(1)
    for line in block.splitlines():
        args = shlex.split(line, comments=True)
        assert args[0] == "wattplan"
        result = CliRunner().invoke(app, args[1:], catch_exceptions=False)
        assert (result.exit_code, result.stderr) == (0, ""), line


def test_the_trace_example_reads_as_documented(tmp_path):
    from reconcile.shell.traces import read_trace

    example = tmp_path / "trace.csv"
    example.write_text(re.search(r"```csv\n(.*?)```", CLI_SECTION, re.S).group(1))
    trace = read_trace(example, slot_s=60)
    # 2m30s in 1-minute slots: 30 s at 120 W + 30 s at 2950 W, then 2950 W and 2100 W, then 30 s at 180 W
    assert trace.watts == (1535.0, 2525.0, 90.0)
    assert trace.peaks == (2950.0, 2950.0, 180.0)
