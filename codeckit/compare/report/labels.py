"""Short names for sources in tables and headers: the shortest path suffix that tells each from the others."""
from __future__ import annotations


def _parts(path: str) -> list[str]:
    # URLs (s3://bucket/key) and local paths alike: "/"-separated; Windows' "\\" too
    return [p for p in path.replace("\\", "/").rstrip("/").split("/") if p] or [path]


def source_labels(paths: list[str]) -> dict[str, str]:
    """Each path's label: its file name, or as many parent folders with it as it takes to differ from every
    other path's label (`a/clip.mp4` and `b/clip.mp4`, not `clip.mp4` twice); the whole path when even that
    is not enough (the same path given twice)."""
    parts = {p: _parts(p) for p in dict.fromkeys(paths)}
    labels = {}
    for p, mine in parts.items():
        others = [q for path, q in parts.items() if path != p]
        for k in range(1, len(mine) + 1):
            if all(q[-k:] != mine[-k:] for q in others):
                labels[p] = "/".join(mine[-k:])
                break
        else:
            labels[p] = p
    return labels


__all__ = ["source_labels"]
