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


def kill_rounds(args: list[str], outputs, out: Path, rounds: int, seed: int, max_delay: float) -> dict:
    """`rounds` times: start the command, kill -9 it at a seeded moment, then check that what had finished
    before is untouched (inode and mtime) and nothing partial is at an output path. Returns the figures."""
    rng = random.Random(seed)
    finished: dict[str, tuple[int, int]] = {}
    kills = 0
    for _ in range(rounds):
        proc = start_cli(*args)
        if kill_at(proc, rng.uniform(0.05, max_delay)) == -signal.SIGKILL:
            kills += 1
        now = stamps(outputs())
        for path, stamp in finished.items():
            assert now.get(path) == stamp, f"{path} was redone or lost after a kill"
        for path in now:
            assert decodes(Path(path)) > 0
        finished = now
    return {"rounds": rounds, "kills": kills, "finished_before_last": len(finished), "finished": finished}


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
    """`n` small sources (1 s, 160x120, two test patterns), enough for kills to land before, during and after
    items."""
    from codeckit.demo_media import lavfi_clip
    for i in range(n):
        lavfi_clip(folder / f"s{i}.mp4", size="160x120", duration=1, source="testsrc2" if i % 2 else "testsrc")
    return folder
