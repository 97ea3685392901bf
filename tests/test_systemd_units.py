"""The systemd units load cleanly, stay hardened and keep the tick on time.

Runs the real `systemd-analyze` (no running systemd needed: PID 1 may be anything).
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
SERVICE, TIMER = "wattplan-tick.service", "wattplan-tick.timer"
MAX_EXPOSURE = 2.0  # systemd-analyze security scale: 0 (safe) .. 10 (unsafe)
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    # A bare environment; warning level hides info chatter but keeps "Unknown key ..." on stderr.
    env = {"PATH": "/usr/bin:/bin", "SYSTEMD_LOG_LEVEL": "warning"}
    return subprocess.run(
        [str(SYSTEMD_ANALYZE), *args], capture_output=True, text=True, env=env, check=False
    )


def settings(name: str) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value, in order (systemd allows repeated keys)."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line and not line.startswith(("#", ";")):
            key, _, value = line.partition("=")
            out.setdefault((section, key.strip()), []).append(value.strip())
    return out


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """Copies of the units whose ExecStart binary exists on this machine.

    verify fails on a missing executable, and /opt/wattplan is not installed here.
    User=wattplan is left as is: verify does not look the user up.
    """
    for name in (SERVICE, TIMER):
        text = (UNITS / name).read_text()
        text = re.sub(r"(?m)^ExecStart=\S+", f"ExecStart={sys.executable}", text)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_units_verify_without_errors_or_warnings(units: Path) -> None:
    # --recursive-errors=no: judge our units, not whatever else this host has installed.
    result = analyze(
        "verify", "--man=no", "--recursive-errors=no", str(units / SERVICE), str(units / TIMER)
    )
    assert (result.returncode, result.stderr) == (0, "")


def test_verify_reports_a_misspelled_key(units: Path) -> None:
    # Guards the check above: verify only warns on unknown keys, so stderr must carry it.
    service = units / SERVICE
    service.write_text(service.read_text().replace("ProtectSystem=", "ProtectSytem="))
    result = analyze("verify", "--man=no", "--recursive-errors=no", str(service))
    assert "Unknown key 'ProtectSytem'" in result.stderr


def test_service_exposure_is_at_most_two(units: Path) -> None:
    result = analyze("security", "--offline=true", "--threshold=20", str(units / SERVICE))
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout
    assert float(match.group(1)) <= MAX_EXPOSURE
    assert result.returncode == 0, result.stderr


def test_timer_fires_every_minute_on_the_minute() -> None:
    timer = settings(TIMER)
    assert timer[("Timer", "OnCalendar")] == ["minutely"]
    assert timer[("Timer", "AccuracySec")] == ["1s"]
    assert ("Timer", "RandomizedDelaySec") not in timer
    assert ("Timer", "Persistent") not in timer
    assert timer[("Install", "WantedBy")] == ["timers.target"]


def test_hung_tick_is_killed_before_the_next_one() -> None:
    [timeout] = settings(SERVICE)[("Service", "TimeoutStartSec")]
    result = analyze("timespan", timeout)
    micros = int(re.search(r"μs: (\d+)", result.stdout).group(1))
    assert micros < 60_000_000


def test_state_is_shared_with_the_group_and_hidden_from_others() -> None:
    service = settings(SERVICE)
    [umask] = service[("Service", "UMask")]
    assert umask.endswith("7")  # nothing the tick creates is world-readable
    [mode] = service[("Service", "StateDirectoryMode")]
    assert int(mode, 8) & 0o077 == 0o070  # group rwx (SQLite WAL files), others nothing
    assert service[("Service", "User")] == service[("Service", "Group")] == ["wattplan"]
