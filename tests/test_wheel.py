"""The built wheel installed NON-editable in a fresh venv, run from another directory as a household
would (issue 18, item 1): every module of the checkout is in it (a hand-written package list once
left the MQTT adapter out of every wheel, which an editable install hides), the units and guides
ship under share/wattplan/, the demo runs and an MQTT tick publishes through a real Mosquitto."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.mqtt_broker import Listener, broker, wait_for  # noqa: F401  (broker: a fixture)

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("reconcile", "models", "migrations")


def run(*args, cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def test_the_wheel_installed_for_real_runs_the_demo_and_an_mqtt_tick(tmp_path, broker) -> None:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "WATTPLAN_DB", "VIRTUAL_ENV")}
    out = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, ROOT, cwd=tmp_path, env=env)
    (wheel,) = out.glob("wattplan-*.whl")
    files = set(zipfile.ZipFile(wheel).namelist())
    modules = {str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")
               if "__pycache__" not in p.parts}
    assert modules - files == set()  # on 07b027a: the 12 files of reconcile/adapters were missing
    data = "wattplan-0.1.0.data/data/share/wattplan/"
    assert {f"{data}systemd/wattplan-tick.service", f"{data}systemd/wattplan-tick.timer",
            f"{data}docs/systemd.md", f"{data}docs/home-assistant.md"} <= files

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env)
    run(venv / "bin" / "pip", "install", "-q", f"{wheel}[mqtt]", cwd=tmp_path, env=env)
    bin_ = venv / "bin" / "wattplan"
    home = tmp_path / "home"
    home.mkdir()  # another directory than the checkout: nothing of it can leak in
    run(bin_, "demo", cwd=home, env=env)
    assert (home / "wattplan-demo.svg").exists()
    assert (venv / "share" / "wattplan" / "systemd" / "wattplan-tick.service").exists()

    db = ["--db", home / "w.db"]
    run(bin_, *db, "init", "--sample", cwd=home, env=env)
    run(bin_, *db, "mqtt", "set", "--broker", broker.url, cwd=home, env=env)
    listener = Listener(broker.port, "wattplan/#")
    try:
        run(bin_, *db, "tick", cwd=home, env=env)
        wait_for(lambda: any(t.endswith("/state") for t in dict(listener.messages)), what="a retained state")
        assert listener.get("wattplan/status") == b"online" or wait_for(
            lambda: listener.get("wattplan/status") == b"online", what="online")
    finally:
        listener.close()
