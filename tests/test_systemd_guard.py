"""The guard's and the listener's units and the tick's MQTT drop-in load cleanly and stay hardened (real
systemd-analyze); neither long-running unit restarts on a configuration error (exit 1, 2, 3)."""

import re
import sys
from pathlib import Path

import pytest

from reconcile.errors import ExitStatus
from tests.test_systemd_units import MAX_EXPOSURE, SYSTEMD_ANALYZE, UNITS, analyze, settings

GUARD, LISTEN, TICK = "wattplan-guard.service", "wattplan-listen.service", "wattplan-tick.service"
DROP_IN = "wattplan-tick.service.d/mqtt.conf"

pytestmark = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")


def installable(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={sys.executable}", text))
    return path


@pytest.fixture
def guard(tmp_path: Path) -> Path:
    return installable(tmp_path, GUARD, (UNITS / GUARD).read_text())


@pytest.fixture
def listen(tmp_path: Path) -> Path:
    return installable(tmp_path, LISTEN, (UNITS / LISTEN).read_text())


@pytest.fixture
def tick_with_mqtt(tmp_path: Path) -> Path:
    """The tick's unit with the drop-in's settings applied after its own, as systemd merges them."""
    unit = (UNITS / TICK).read_text()
    drop_in = (UNITS / DROP_IN).read_text()
    unit_part, _, service_part = drop_in.partition("[Service]")
    unit = unit.replace("[Service]", unit_part.split("[Unit]", 1)[1].strip() + "\n\n[Service]", 1)
    return installable(tmp_path, TICK, unit + "\n" + service_part)


@pytest.mark.parametrize("unit", ["guard", "listen", "tick_with_mqtt"])
def test_units_verify_without_errors_or_warnings(unit, request) -> None:
    path = request.getfixturevalue(unit)
    result = analyze("verify", "--man=no", "--recursive-errors=no", str(path))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("unit", ["guard", "listen", "tick_with_mqtt"])
def test_exposure_is_at_most_two(unit, request) -> None:
    result = analyze("security", "--offline=true", "--threshold=20", str(request.getfixturevalue(unit)))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout
    print(f"\n{unit}: exposure {match.group(1)}")
    assert float(match.group(1)) <= MAX_EXPOSURE


@pytest.mark.parametrize("name", [GUARD, LISTEN])
def test_a_configuration_error_is_not_restarted_every_five_seconds(name) -> None:
    unit = settings(name)
    assert unit[("Service", "Restart")] == ["on-failure"]
    refused = {int(code) for line in unit[("Service", "RestartPreventExitStatus")] for code in line.split()}
    assert {ExitStatus.ERROR, ExitStatus.USAGE, ExitStatus.NOT_MIGRATED} <= refused
    assert ExitStatus.BUSY not in refused and ExitStatus.BROKER not in refused  # transient: restarted
