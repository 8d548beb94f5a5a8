"""Throwaway services for the DuckLake tests on PostgreSQL and object storage: a real
PostgreSQL cluster (``initdb`` + ``pg_ctl``) on a local port, and moto's S3-compatible server
on 127.0.0.1. Started once per test process (the first test that asks), stopped at exit.

Why pre-created databases: each test gets a new, empty catalog database, and PostgreSQL
creates databases only outside a transaction, which DuckDB's postgres extension always opens;
so ``postgres --single`` creates a stock of them before the server starts.
"""

from __future__ import annotations

import atexit
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest

N_DATABASES = 40
PG_USER = "biodiv"
BUCKET = "biodiv-lake"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, else Debian's /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


class PostgresCluster:
    """A cluster in a temporary folder, trust authentication, listening on 127.0.0.1 only.

    As root it runs as ``nobody`` (PostgreSQL refuses to run as root)."""

    def __init__(self) -> None:
        self.bin = pg_bin_dir()
        self.dir = Path(tempfile.mkdtemp(prefix="biodiv-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self._names = (f"lake{i:03d}" for i in itertools.count(1))
        self.as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "nobody")

    def _run(self, args: list[str], stdin: str | None = None) -> None:
        proc = subprocess.run(self.as_user + args, input=stdin, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {proc.stderr.strip()[-500:]}")

    def start(self) -> "PostgresCluster":
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", PG_USER, "--auth=trust",
                   "-E", "UTF8", "--no-sync"])
        creates = "".join(f"CREATE DATABASE lake{i:03d};\n" for i in range(1, N_DATABASES + 1))
        self._run([str(self.bin / "postgres"), "--single", "-D", str(self.data), "template1"], stdin=creates)
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"), "-w",
                   "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start"])
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(self.as_user + [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                           "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self) -> str:
        """A libpq connection string to a new, empty database of the cluster."""
        name = next(self._names)
        if int(name[4:]) > N_DATABASES:
            raise RuntimeError(f"more than {N_DATABASES} PostgreSQL catalogs asked: raise N_DATABASES")
        return f"dbname={name} host=127.0.0.1 port={self.port} user={PG_USER}"


class S3Server:
    """moto's S3-compatible server on a local port, with one bucket."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        self._prefixes = (f"t{i:03d}" for i in itertools.count(1))

    def start(self) -> "S3Server":
        import boto3

        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="biodiv-test",
                                   aws_secret_access_key="biodiv-test", region_name="us-east-1")
        self.client.create_bucket(Bucket=BUCKET)
        return self

    def stop(self) -> None:
        self.server.stop()

    def new_prefix(self) -> str:
        return f"s3://{BUCKET}/{next(self._prefixes)}/"

    def keys(self, url: str) -> list[str]:
        prefix = url.split(f"s3://{BUCKET}/", 1)[1]
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def env(self) -> dict[str, str]:
        """The AWS variables biodiv reads (biodiv.store.lake.use_object_storage)."""
        return {"AWS_ACCESS_KEY_ID": "biodiv-test", "AWS_SECRET_ACCESS_KEY": "biodiv-test",
                "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint}


def skip_reason() -> str | None:
    """Why the PostgreSQL + S3 tests cannot run here, or None."""
    if pg_bin_dir() is None:
        return "PostgreSQL (initdb, pg_ctl) is not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot be started"
    for module, wheel in (("duckdb_extension_ducklake", "duckdb-extension-ducklake"),
                          ("duckdb_extension_postgres_scanner", "duckdb-extension-postgres-scanner"),
                          ("duckdb_extension_httpfs", "duckdb-extension-httpfs"),
                          ("moto", "moto[server]"), ("flask", "moto[server]")):
        try:
            __import__(module)
        except ImportError:
            return f"{wheel} is not installed (pip install -e '.[test]')"
    return None


@cache
def services() -> tuple[PostgresCluster, S3Server]:
    """The cluster and the S3 server of this test process (skips the test when unavailable)."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    pg = PostgresCluster()
    atexit.register(pg.stop)
    try:
        pg.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"a PostgreSQL cluster could not be started here: {exc}")
    s3 = S3Server().start()
    atexit.register(s3.stop)
    # the S3 settings as a deployment gives them: in the environment (of this test process,
    # so that the module-scoped fixtures and the CLI's subprocesses see them too)
    os.environ.update(s3.env())
    return pg, s3


def pg_s3_lake() -> tuple[str, str]:
    """(catalog, data_path) of a new lake: a new PostgreSQL database and a new S3 prefix."""
    pg, s3 = services()
    return f"postgres:{pg.new_database()}", s3.new_prefix()
