"""Helpers of the fault-injection suite (tests/media/test_faults.py, tests/slow/test_faults_heavy.py): the CLI in a
real child process, kill -9 at seeded moments, what a finished output folder must look like, seeded mutants."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from codeckit.encode import is_temp_name
from codeckit.sources import open_media

JOURNAL = ".codeckit-journal.jsonl"


def cli_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "codeckit", *args]


def run_cli(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cli_args(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def start_cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    """The command in the background, its output discarded: pipes would keep the reader waiting on worker
    processes (loky's, Dask's) that outlive a parent killed with -9."""
    return subprocess.Popen(cli_args(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})


def kill_at(proc: subprocess.Popen, delay: float, sig: int = signal.SIGKILL) -> int:
    """Send `sig` after `delay` seconds (if still running); the exit status."""
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc.returncode


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if is_temp_name(p.name)]


def stamps(files: list[Path]) -> dict[str, tuple[int, int]]:
    """(inode, mtime_ns) of each file: a redone output gets a new inode (written elsewhere, renamed)."""
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files if p.is_file()}


def journal_records(folder: Path) -> list[dict]:
    path = folder / JOURNAL
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def last_states(folder: Path) -> dict[str, str]:
    last: dict[str, str] = {}
    for rec in journal_records(folder):
        last[rec["key"]] = rec["state"]
    return last


def decodes(path: Path) -> int:
    """Frames a full decode of `path` gives (raises on a broken file)."""
    n = 0
    with open_media(path) as c:
        for _ in c.decode(video=0):
            n += 1
    return n


def slow_ffmpeg(folder: Path, rate: float = 0.25) -> dict:
    """The environment for a CLI run whose encodes take seconds, not a fraction of one: `CODECKIT_FFMPEG` set to
    a wrapper that runs the real FFmpeg reading its inputs at `rate` x real time (`-readrate`) when it writes a
    codeckit temporary file (an item's encode); probes and capability tests run at full speed. A 1 s clip
    then takes about 1.5 s at 0.25 (the reading starts with a burst), so a kill can land inside an item."""
    from codeckit.ffmpeg import ffmpeg_exe
    wrapper = folder / "ffmpeg-slow"
    wrapper.write_text(f"""#!/bin/bash
case "$*" in
  *codeckit-tmp*|*codeckit-pkg-tmp*)
    args=()
    for a in "$@"; do
      [ "$a" = "-i" ] && args+=(-readrate {rate} -readrate_initial_burst 0)
      args+=("$a")
    done
    exec {ffmpeg_exe()} "${{args[@]}}";;
esac
exec {ffmpeg_exe()} "$@"
""")
    wrapper.chmod(0o755)
    return {"CODECKIT_FFMPEG": str(wrapper)}


def in_flight(folder: Path, since: float) -> list[str]:
    """Keys whose last journal record is `started`, written at or after `since` (time.time()): items this run
    was working on."""
    last: dict[str, dict] = {}
    for rec in journal_records(folder):
        last[rec["key"]] = rec
    return [k for k, r in last.items() if r["state"] == "started" and r.get("t", 0) >= since - 0.01]


def item_seconds(folder: Path, default: float = 4.0) -> float:
    """The median wall time of the items the journal records as done (what one item takes), else `default`."""
    walls = sorted(r["wall_s"] for r in journal_records(folder) if r["state"] == "done" and r.get("wall_s"))
    return walls[len(walls) // 2] if walls else default


def live_processes(mark: str) -> list[str]:
    """Command lines of live (not zombie) processes that mention `mark` (a folder of one test): what a killed
    run left running."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if mark in cmd and state not in (b"Z", b"X"):
            found.append(f"{pid}: {cmd[:200]}")
    return found


def encoder_parents(out: Path) -> list[int]:
    """The parent pids of the live FFmpeg runs writing a temporary output under `out`: the processes (a loky or
    Dask worker, or codeckit itself) that run its items."""
    parents = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if b"ffmpeg" in cmd[0] and fields[0] not in (b"Z", b"X") and any(
                str(out).encode() in a and b"codeckit-tmp" in a for a in cmd):
            parents.append(int(fields[1]))
    return parents


def kill_in_flight(args: list[str], out: Path, rng: random.Random, env: dict | None = None,
                   journal: Path | None = None, timeout: float = 120, items: float = 2.0) -> bool:
    """Start the command, wait until it works on an item, kill -9 it at a random moment within `items` items'
    measured time (so that some rounds finish an item first; if the moment falls between items, at the next
    item's start). True if the kill landed: the run was alive and the journal shows an item it had started and
    not finished."""
    journal = journal or out
    since = time.time()
    proc = start_cli(*args, env=env)
    window = items * item_seconds(journal)
    if not wait_for(lambda: proc.poll() is not None or in_flight(journal, since), timeout):
        raise AssertionError(f"no item started in {timeout} s: {args}")
    time.sleep(rng.uniform(0.0, window))
    wait_for(lambda: proc.poll() is not None or in_flight(journal, since), timeout)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    return proc.returncode == -signal.SIGKILL and bool(in_flight(journal, since))


def kill_rounds(args: list[str], outputs, out: Path, rounds: int, seed: int, env: dict | None = None,
                journal: Path | None = None, check=decodes, items: float = 2.0) -> dict:
    """`rounds` times: start the command, kill -9 it while an item runs (`kill_in_flight`), then check that
    what had finished before is untouched (inode and mtime), that every output passes `check` (decodes), and
    that nothing the run started is left running (FFmpeg dies with its parent). Returns the figures, `landed` the kills that
    hit an item in flight."""
    rng = random.Random(seed)
    finished: dict[str, tuple[int, int]] = {}
    landed = 0
    for _ in range(rounds):
        landed += kill_in_flight(args, out, rng, env, journal, items=items)
        # FFmpeg dies with its parent (at once), a worker's FFmpeg when the worker sees its run gone (0.2 s)
        assert wait_for(lambda: not live_processes(str(out)), 2), live_processes(str(out))
        now = stamps(outputs())
        for path, stamp in finished.items():
            assert now.get(path) == stamp, f"{path} was redone or lost after a kill"
        for path in now if check else ():
            assert check(Path(path))
        finished = now
    return {"rounds": rounds, "kills": landed, "landed": landed, "finished_before_last": len(finished),
            "finished": finished}


# ---------------------------------------------------------------- mutants

def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One seeded mutation of a media file: a truncation, bit flips in the header or payload, a zeroed range,
    or two MP4 top-level atoms swapped."""
    kind = rng.choice(["truncate", "flip_header", "flip_payload", "zero", "swap_atoms"])
    b = bytearray(data)
    n = len(b)
    if kind == "truncate":
        return kind, bytes(b[:rng.randrange(1, n)])
    if kind in ("flip_header", "flip_payload"):
        lo, hi = (0, min(n, 4096)) if kind == "flip_header" else (min(n - 1, 4096), n)
        for _ in range(rng.randint(1, 16)):
            i = rng.randrange(lo, hi)
            b[i] ^= 1 << rng.randrange(8)
        return kind, bytes(b)
    if kind == "zero":
        start = rng.randrange(0, n)
        length = rng.randint(1, max(1, n // 8))
        b[start:start + length] = bytes(min(length, n - start))
        return kind, bytes(b)
    atoms = _atoms(data)
    if len(atoms) < 2:
        return "truncate", bytes(b[:n // 2])
    i, j = sorted(rng.sample(range(len(atoms)), 2))
    parts = [data[s:e] for s, e in atoms]
    parts[i], parts[j] = parts[j], parts[i]
    return kind, b"".join(parts) + data[atoms[-1][1]:]


def _atoms(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the top-level ISO-BMFF boxes; [] for other formats."""
    spans, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        if size < 8 or pos + size > len(data) or not data[pos + 4:pos + 8].isalpha():
            break
        spans.append((pos, pos + size))
        pos += size
    return spans


def make_mutants(seeds: list[Path], folder: Path, count: int, seed: int) -> dict[str, str]:
    """`count` mutants of `seeds` in `folder` (name -> mutation kind), the same for the same seed."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}
    for i in range(count):
        src = seeds[i % len(seeds)]
        kind, data = mutate(src.read_bytes(), rng)
        name = f"m{i:03d}-{kind}{src.suffix}"
        (folder / name).write_bytes(data)
        kinds[name] = kind
    return kinds


def wait_for(cond, timeout: float = 60.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def make_batch(folder: Path, n: int) -> Path:
    """`n` small sources (1 s, 160x120, two test patterns), each with a box of its own so that no two hold the
    same content (normalize would drop all but one of each content as duplicates)."""
    from codeckit.demo_media import lavfi_clip
    for i in range(n):
        lavfi_clip(folder / f"s{i}.mp4", size="160x120", duration=1, source="testsrc2" if i % 2 else "testsrc",
                   vf=f"drawbox=x={4 * i % 150}:y={8 * (i // 37)}:w=4:h=4:color=white:t=fill")
    return folder
