"""The database is created without world access, and what people type is data, never SQL.

End to end with the real `wattplan` console script in its own process (its umask, its files).
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workers import query

WATTPLAN = Path(sys.executable).parent / "wattplan"
pytestmark = pytest.mark.skipif(not WATTPLAN.exists(), reason="no wattplan console script: pip install -e .")
INIT = ("init", "--limit", "6.9kW", "--timezone", "Europe/Lisbon")
NOW = "2026-06-30T08:00"


def wattplan(home: Path, *args: str, db: Path | None = None,
             umask: int = 0o022) -> subprocess.CompletedProcess:
    """`wattplan ARGS` as its own process under `umask`, with HOME=`home` and WATTPLAN_DB=`db` if given."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}
    if db is not None:
        env["WATTPLAN_DB"] = str(db)
    result = subprocess.run([str(WATTPLAN), *args], env=env, capture_output=True, text=True, timeout=60,
                            preexec_fn=lambda: os.umask(umask), check=False)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return result


def others_may(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & 0o007


@pytest.mark.parametrize(("create", "umask"), [(("db", "upgrade"), 0o000), (INIT, 0o022)],
                         ids=["db upgrade, umask 000", "init, umask 022"])
def test_the_database_and_its_wal_files_are_created_without_world_access(tmp_path, create, umask):
    db = tmp_path / "wattplan.db"
    wattplan(tmp_path, *create, db=db, umask=umask)
    assert others_may(db) == 0
    # Keep the database open from a process with umask 000 while the CLI writes, so that the -wal and
    # -shm files exist to be looked at: SQLite gives them the database's own mode, whoever creates them.
    holder = subprocess.Popen([sys.executable, "-c", HOLD_OPEN, str(db)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        wattplan(tmp_path, *INIT, db=db, umask=umask)
        companions = [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]
        assert all(path.exists() for path in companions)
        assert [others_may(path) for path in (db, *companions)] == [0, 0, 0]
    finally:
        holder.communicate("", timeout=30)


HOLD_OPEN = """
import os, sqlite3, sys
os.umask(0)
connection = sqlite3.connect(sys.argv[1])
connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
print("open", flush=True)
sys.stdin.read()
connection.close()
"""


def test_the_default_database_and_its_directory_are_private(tmp_path):
    """No --db, WATTPLAN_DB or STATE_DIRECTORY: the user's app directory, created 0700."""
    wattplan(tmp_path, *INIT)
    app_dir = tmp_path / ".config" / "wattplan"
    assert stat.S_IMODE(app_dir.stat().st_mode) & 0o077 == 0
    assert others_may(app_dir / "wattplan.db") == 0


NAMES = [
    "Robert'); DROP TABLE execution;--",
    '"quoted"',
    "O'Brien's \"dryer\"",
    "%s {0} \\n \\\\ $HOME `id`; DELETE FROM appliance WHERE 1=1",
    "Máquina de lavar 🧺 洗濯機",
    "caf\u00e9  ",  # é composed (NFC), trailing spaces …
    "cafe\u0301",  # … and decomposed (NFD): two different names, both kept as typed
]


def test_names_with_quotes_and_sql_metacharacters_round_trip(tmp_path):
    db = tmp_path / "wattplan.db"
    wattplan(tmp_path, *INIT, db=db)
    for name in NAMES:
        assert wattplan(tmp_path, "appliance", "add", name, db=db).stdout == f"added appliance {name!r}\n"
    program = "eco'; DROP TABLE profile;--"
    wattplan(tmp_path, "profile", "add", NAMES[0], program, "--power", "1kW", "--duration", "1h", db=db)
    assert wattplan(tmp_path, "enqueue", NAMES[0], program, "--now", NOW, db=db).stdout == "1\n"

    listed = json.loads(wattplan(tmp_path, "appliance", "list", "--json", db=db).stdout)
    assert sorted(a["name"] for a in listed) == sorted(NAMES)
    assert [p["name"] for a in listed for p in a["programs"]] == [program]
    (run,) = json.loads(wattplan(tmp_path, "list", "--json", db=db).stdout)
    assert (run["appliance"], run["program"]) == (NAMES[0], program)
    assert sorted(name for (name,) in query(db, "SELECT name FROM appliance")) == sorted(NAMES)
    assert query(db, "SELECT count(*) FROM execution") == [(1,)]  # every table is still there


@pytest.mark.parametrize("directory", [
    "my data",
    "o'brien",
    "jürgen",
    "50%#",
    "what?now",
])
def test_a_database_path_with_quotes_or_url_characters_is_just_a_path(tmp_path, directory):
    db = tmp_path / directory / "wattplan.db"
    db.parent.mkdir()
    wattplan(tmp_path, *INIT, db=db)
    made = sorted(p.name for p in db.parent.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert made == ["wattplan.db"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [directory]  # nothing created beside it
