"""Object storage (`s3://bucket/prefix`, any fsspec URL) for sources and outputs, beside local paths.

FFmpeg and PyAV only ever open local files: an object is staged into a worker-local scratch folder before it
is read, and an output is written locally, then uploaded. An upload goes to a temporary key beside the final
one and is copied to the final key only when whole (S3's copy is atomic per object), so a reader (or a rerun)
never finds half an object under a final key; temporary keys a killed worker left are removed by the next run
while it holds the output's lock (`codeckit.object_journal`).

Credentials come from where fsspec's implementation looks (for S3: AWS_* environment variables, ~/.aws
files, instance roles) plus `Storage.options` (`--storage-option KEY=VALUE`, `--endpoint-url`). They travel
inside a `Storage` to workers (who may lack the environment), and are never printed: `repr(Storage)` names
the option keys only, and every storage error message goes through `Storage.redact`.
"""
from __future__ import annotations

# The parts, one module each, re-exported here (callers import this module): object_store (URLs, `Storage`,
# listings, identity), object_uploads (temporary keys, put_final, upload_tree), object_staging (scratch,
# Stager). None imports this one, and none imports fsspec before a URL is used.
from .object_staging import (DEFAULT_SCRATCH_BYTES, Stager, named_as_given, remove_dead_scratch, scratch_dir,
                             scratch_limit, scratch_root, stager)
from .object_store import LOCAL_SCHEMES, SECRET_WORDS, Storage, identity, is_url, join, name_of, object_hash
from .object_uploads import TEMP_KEY_MARK, is_temp_key, put_final, remove_stale_temp_keys, temp_key, upload_tree

__all__ = ["Stager", "Storage", "identity", "is_temp_key", "is_url", "join", "name_of", "named_as_given",
           "object_hash", "put_final", "remove_stale_temp_keys", "scratch_dir", "scratch_root",
           "stager", "temp_key", "upload_tree",
           # importable from here as before the split, not part of the API proper
           "DEFAULT_SCRATCH_BYTES", "LOCAL_SCHEMES", "SECRET_WORDS", "TEMP_KEY_MARK", "remove_dead_scratch",
           "scratch_limit"]
