"""The real S3 server (SeaweedFS on 127.0.0.1) the storage tests share: one per session, whichever of
test_storage*.py run (a fixture imported into a second module would start a second server and swap the
AWS_* environment under the first one's tests)."""
from __future__ import annotations

import os

import pytest

from codeckit.demo_media import lavfi_clip
from tests.s3 import start_server

HUES = (0, 120, 240)     # three different moving pictures (a still one would be rejected as static)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("seaweedfs"))
    saved = {k: os.environ.get(k) for k in server.env()}
    os.environ.update(server.env())          # the usual place for credentials: workers inherit it
    yield server
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


@pytest.fixture(scope="session")
def s3_sources(s3, tmp_path_factory):
    """s3://src/in/{a,b,c}.mp4: three different 1 s clips, and a non-video object."""
    d = tmp_path_factory.mktemp("s3src")
    bucket = s3.bucket("src")
    fs = s3.fs()
    for name, hue in zip("abc", HUES):
        fs.put_file(str(lavfi_clip(d / f"{name}.mp4", size="160x120", rate="24", duration=1, vf=f"hue=h={hue}")),
                    f"src/in/{name}.mp4")
    fs.pipe_file("src/in/notes.txt", b"not video")
    return f"{bucket}/in"
