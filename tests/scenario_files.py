"""A small valid scenario file and ways to write and edit it, for the scenario tests."""

from pathlib import Path

BASE = """\
version = 1
name = "t"
start = "2026-06-30T08:00:00+02:00"
end = "12:00"

[home]
limit = "3kW"
timezone = "Europe/Berlin"

[[appliances]]
name = "heater"
interruptible = true
min_run = "5m"

[[appliances]]
name = "washer"

[[programs]]
appliance = "heater"
name = "boost"
watts = [1000, 2000]
peak_watts = [1500, 2000]

[[programs]]
appliance = "washer"
name = "eco"
watts = [500]

[[forecasts]]
kind = "pv"
start = "08:00"
slot = "15m"
values = [0, 100]

[[events]]
type = "request"
at = "08:15"
label = "a"
appliance = "heater"
within = "1h"

[[events]]
type = "end"
at = "08:20"
label = "a"
kind = "done"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edited(*changes: tuple[str, str]) -> str:
    """BASE with each (old, new) applied once; old == "" appends new."""
    text = BASE
    for old, new in changes:
        assert old in text, old
        text = text + new if old == "" else text.replace(old, new, 1)
    return text
