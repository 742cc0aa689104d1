"""One normalize source when the source or OUT is in object storage: staged into the worker's scratch, run
through the same steps as a local one, each clip uploaded (whole, codeckit.storage.put_final) while the next
clip encodes; the journal entry comes back only once every upload is finished.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..errors import error_fields
from ..storage import is_url, join, named_as_given, put_final, scratch_dir, stager
from .hashing import content_hash


def process_remote(task, ctx=None) -> dict:
    from .worker import process_source
    storage = task.storage
    st = stager()
    st.prefetch(storage, task.prefetch)
    with scratch_dir("normalize") as d, ThreadPoolExecutor(max_workers=2) as uploads:
        try:
            src = st.stage(storage, task.source, d) if is_url(task.source) else task.source
        except Exception as exc:   # a StorageError (object_unreadable, ...): this source fails, the batch goes on
            return {"key": task.key, "source": task.source, "source_sha256": task.content_hash,
                    "status": "failed", "error": str(exc), "error_code": getattr(exc, "code", None),
                    "failure": error_fields(exc),
                    "records": [], "measurements": {}, "source_s": 0.0, "cpu_s": 0.0, "wall_s": 0.0}
        out = d / "out"
        pending = []
        # an object no other source's size matches was not hashed by the parent: hash the staged copy (in the
        # page cache: ~5 ms for 1 MB) for its clip ids and the manifest
        digest = task.content_hash or content_hash(src)

        def publish(rel: str) -> None:
            pending.append(uploads.submit(put_final, storage, out / rel, join(task.out_dir, rel)))
        local = replace(task, source=str(src), content_hash=digest, out_dir=str(out), storage=None, prefetch=())
        entry = process_source(local, ctx, publish=publish)
        if entry.get("status") == "failed":   # the scratch copies are gone: the error names the URLs given
            entry.update(named_as_given({k: entry.get(k) for k in ("error", "failure")},
                                         {str(src): task.source, str(out): task.out_dir}))
        try:
            for f in pending:
                f.result()
        except Exception as exc:
            entry.update(status="failed", error=f"upload failed: {exc}", records=[], failure=error_fields(exc))
    entry["source"] = task.source
    return entry
