"""normalize from and to a local S3 server (SeaweedFS) against the same run on local folders, same machine.

Staging costs little when downloads of the next items and uploads of finished clips overlap the encodes:
the issue's bar is S3 wall <= 1.10x local wall. Both runs use the same sources, profile, jobs and threads,
in fresh output locations; local runs go before and after each S3 run (`--repeat N`: N S3 runs, N + 1 local,
medians compared) so that a warm page cache or a busy neighbour does not favour one side.

    PYTHONPATH=. python bench/bench_storage.py [--sources 8] [--seconds 4] [--jobs 2] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="S3 runs, interleaved with repeat + 1 local runs")
    a = ap.parse_args()
    from codeckit.demo_media import lavfi_clip
    from codeckit.normalize.pipeline import normalize
    from codeckit.storage import Storage
    from tests.s3 import start_server

    work = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    server = start_server(work / "s3")
    os.environ.update(server.env())
    # a fresh hash cache, as the local runs have (theirs is in OUT): an S3 OUT keeps its cache under
    # XDG_CACHE_HOME, which would otherwise carry over from an earlier bench run
    os.environ["XDG_CACHE_HOME"] = str(work / "cache")
    try:
        src = work / "src"
        src.mkdir()
        fs = server.fs()
        bucket = server.bucket("bench")
        for i in range(a.sources):
            clip = lavfi_clip(src / f"s{i:02d}.mp4", size=a.size, rate="24", duration=a.seconds,
                              vf=f"hue=h={i * 360 // a.sources}")
            fs.put_file(str(clip), f"bench/src/{clip.name}")
        mb = sum(f.stat().st_size for f in src.iterdir()) / 1e6

        def run(sources, out) -> float:
            t = time.monotonic()
            s = normalize([sources], out, "training-480p24", jobs=a.jobs, force_encode=True, storage=Storage())
            assert s.ok and s.clips_out >= a.sources, s.to_dict()
            return time.monotonic() - t
        locals_, remotes = [], []
        for n in range(a.repeat):     # interleaved L S L S ... L: a busy neighbour hits both sides alike
            locals_.append(run(str(src), str(work / f"out-local-{n}")))
            remotes.append(run(f"{bucket}/src", f"{bucket}/out-{n}"))
        locals_.append(run(str(src), str(work / "out-local-last")))
        base, remote = statistics.median(locals_), statistics.median(remotes)
        print(f"sources: {a.sources} x {a.seconds:g} s {a.size} ({mb:.1f} MB), jobs {a.jobs}, training-480p24")
        print("local folders: " + ", ".join(f"{t:.2f}" for t in locals_) + f" s (median {base:.2f} s)")
        print("s3:// -> s3:// (SeaweedFS on 127.0.0.1): " + ", ".join(f"{t:.2f}" for t in remotes)
              + f" s (median {remote:.2f} s)")
        print(f"ratio s3/local (medians): {remote / base:.3f} (bar: <= 1.10)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
