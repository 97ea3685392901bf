"""Faults, end to end with the real `wattplan` console script in a separate process.

A read-only database, a full disk, a missing directory: one line on stderr, a documented exit
status (README, "Exit codes": 1 error, 3 no database or not migrated, 4 transient: busy or the
disk refused a write), nothing changed (`PRAGMA integrity_check` ok, every row as before), and
the next tick succeeds once the fault is gone. A clock that moves back, daylight-saving change
days, and decisions past `valid_until` are in tests/test_faults_time.py.

Root ignores file modes, so "read-only" is made three ways that bind root too, each skipped with
its reason where the machine does not allow it: the immutable attribute (`chattr +i`), the file
modes with CAP_DAC_OVERRIDE and CAP_FOWNER dropped (`setpriv`), and a read-only bind mount.
A full disk is a tiny tmpfs (needs `mount`), or else a file-size limit (RLIMIT_FSIZE, SIGXFSZ
ignored): every write past it fails with EFBIG, as on a disk with no room left.
"""

import os
import resource
import shutil
import signal
import subprocess
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from reconcile.errors import ExitStatus
from tests.fault_cases import (
    WATTPLAN,
    T,
    assert_one_line,
    assert_recovers,
    at,
    digest,
    household_in,
    snapshot,
    wattplan,
)

pytestmark = pytest.mark.skipif(not WATTPLAN.exists(), reason="no wattplan console script: pip install -e .")


@pytest.fixture
def db(tmp_path) -> Path:
    return household_in(tmp_path)



# --- a read-only database --------------------------------------------------------------------


@contextmanager
def immutable(db: Path):
    """`chattr +i`: not even root may write the file (needs CAP_LINUX_IMMUTABLE and ext4/xfs/btrfs…)."""
    made = subprocess.run(["chattr", "+i", str(db)], capture_output=True, text=True, check=False) \
        if shutil.which("chattr") else None
    if made is None or made.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {made.stderr.strip() if made else 'no chattr'}")
    try:
        yield db, ()
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)


@contextmanager
def without_write_permission(db: Path):
    """Mode 0444 in a 0555 directory; root runs without the capabilities that bypass modes."""
    wrapper: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        wrapper = (setpriv or "setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--")
        probe = setpriv and subprocess.run([*wrapper, "true"], capture_output=True, check=False)
        if not probe or probe.returncode != 0:
            pytest.skip("root ignores file modes and setpriv cannot drop CAP_DAC_OVERRIDE here")
    db.chmod(0o444)
    db.parent.chmod(0o555)
    try:
        yield db, wrapper
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o660)


def unmount(path: Path) -> None:
    """Unmount, lazily if something still holds a file there: never leave a mount behind."""
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode:
        subprocess.run(["umount", "-l", str(path)], check=True)


def mount(*args: str) -> str | None:
    """Run mount(8); None when it worked, else why not (not installed, not permitted)."""
    if shutil.which("mount") is None:
        return "mount(8) is not installed"
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else f"mount is not permitted here: {done.stderr.strip()}"


@contextmanager
def read_only_mount(db: Path):
    """The directory seen through a read-only bind mount (EROFS for everyone, root included)."""
    view = db.parent.with_name("read-only-view")
    view.mkdir()
    refused = mount("--bind", str(db.parent), str(view))
    if refused:
        pytest.skip(refused)
    try:
        assert mount("-o", "remount,ro,bind", str(view)) is None
        yield view / db.name, ()
    finally:
        unmount(view)


WRITE_REFUSED = "the database is read-only ("  # said before SQLite opens it, or by SQLite
READ_ONLY = {  # SQLite cannot even open a WAL database on a read-only disk unless its -shm exists
    "immutable file": (immutable, (WRITE_REFUSED,)),
    "no write permission": (without_write_permission, (WRITE_REFUSED,)),
    "read-only mount": (read_only_mount,
                        (WRITE_REFUSED, "cannot open the database (unable to open database file")),
}


@pytest.mark.parametrize("fault", READ_ONLY)
def test_a_read_only_database_is_one_line_and_changes_nothing(db, fault):
    make_read_only, messages = READ_ONLY[fault]
    before, then = snapshot(db), T + timedelta(minutes=1)
    with make_read_only(db) as (seen, wrapper):
        for args in (["tick", "--now", at(then)], ["enqueue", "heater", "--now", at(then)]):
            assert_one_line(wattplan(seen, *args, wrapper=wrapper), ExitStatus.ERROR, *messages)
    assert_recovers(db, before, then)


# --- a full disk -----------------------------------------------------------------------------


@contextmanager
def tiny_tmpfs(db: Path):
    """The database on a 1 MiB tmpfs, filled up but for 16 KiB: too little for a tick's WAL frames.

    Yields (the database on it, no preexec, a function that frees the space)."""
    disk = db.parent.with_name("tiny-disk")
    disk.mkdir()
    refused = mount("-t", "tmpfs", "-o", "size=1m,mode=0755", "tmpfs", str(disk))
    if refused:
        pytest.skip(refused)
    try:
        copy, filler = disk / db.name, disk / "filler"
        shutil.copy2(db, copy)
        space = os.statvfs(disk)
        filler.write_bytes(b"\0" * max(0, space.f_bavail * space.f_frsize - 16 * 1024))
        yield copy, None, filler.unlink
    finally:
        unmount(disk)


@contextmanager
def file_size_limit(db: Path):
    """RLIMIT_FSIZE below the database's size: any write past 16 KiB fails with EFBIG.

    Yields (the database, a preexec that sets the limit, nothing to free: later calls have no limit)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel kills the writer
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    yield db, limit, lambda: None


FULL = {"tiny tmpfs": tiny_tmpfs, "file size limit": file_size_limit}


@pytest.mark.parametrize("fault", FULL)
def test_a_full_disk_is_one_line_and_changes_nothing(db, fault):
    before, then = snapshot(db), T + timedelta(minutes=1)
    with FULL[fault](db) as (seen, preexec, free_space):  # seen: db itself, or a copy on the tiny disk
        main_file = digest(seen)
        for args in (["tick", "--now", at(then)], ["enqueue", "heater", "--now", at(then)]):
            result = wattplan(seen, *args, preexec=preexec)
            assert_one_line(result, ExitStatus.BUSY, "the disk refused the write (")
            assert digest(seen) == main_file  # not a byte of the database itself was written
        free_space()
        assert_recovers(seen, before, then)


# --- a missing directory ---------------------------------------------------------------------


def test_a_missing_directory_is_one_line_and_not_created(db):
    before, state, then = snapshot(db), db.parent, T + timedelta(minutes=1)
    away = state.rename(state.with_name("state-unmounted"))
    try:
        for args in (["tick", "--now", at(then)], ["enqueue", "heater"], ["status", "--check"]):
            assert_one_line(wattplan(db, *args), ExitStatus.NOT_MIGRATED,
                            f"no database at {db}: create it with `wattplan init` or `wattplan db upgrade`")
        assert_one_line(wattplan(db, "db", "upgrade"), ExitStatus.ERROR,
                        f"cannot create the database: directory {state} does not exist")
        assert not state.exists()  # nothing was created in its place
    finally:
        away.rename(state)
    assert_recovers(db, before, then)


