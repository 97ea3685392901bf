"""The guard's unit and the tick's MQTT drop-in load cleanly and stay hardened (real systemd-analyze)."""

import re
import sys
from pathlib import Path

import pytest

from tests.test_systemd_units import MAX_EXPOSURE, SYSTEMD_ANALYZE, UNITS, analyze

GUARD, TICK, DROP_IN = "wattplan-guard.service", "wattplan-tick.service", "wattplan-tick.service.d/mqtt.conf"

pytestmark = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")


def installable(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={sys.executable}", text))
    return path


@pytest.fixture
def guard(tmp_path: Path) -> Path:
    return installable(tmp_path, GUARD, (UNITS / GUARD).read_text())


@pytest.fixture
def tick_with_mqtt(tmp_path: Path) -> Path:
    """The tick's unit with the drop-in's settings applied after its own, as systemd merges them."""
    unit = (UNITS / TICK).read_text()
    drop_in = (UNITS / DROP_IN).read_text()
    unit_part, _, service_part = drop_in.partition("[Service]")
    unit = unit.replace("[Service]", unit_part.split("[Unit]", 1)[1].strip() + "\n\n[Service]", 1)
    return installable(tmp_path, TICK, unit + "\n" + service_part)


@pytest.mark.parametrize("unit", ["guard", "tick_with_mqtt"])
def test_units_verify_without_errors_or_warnings(unit, request) -> None:
    path = request.getfixturevalue(unit)
    result = analyze("verify", "--man=no", "--recursive-errors=no", str(path))
    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.parametrize("unit", ["guard", "tick_with_mqtt"])
def test_exposure_is_at_most_two(unit, request) -> None:
    result = analyze("security", "--offline=true", "--threshold=20", str(request.getfixturevalue(unit)))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout
    print(f"\n{unit}: exposure {match.group(1)}")
    assert float(match.group(1)) <= MAX_EXPOSURE
