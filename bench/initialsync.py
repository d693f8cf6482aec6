"""Initial sync (FullStage) of N content rows, beside `pg_dump | psql` of the same tables.

    python bench/initialsync.py N [--backend sqlite|postgres] [--postgres ADMIN_URL]

Builds a source instance with N content rows (each with one history version and one metadata
value) and N/100 library files, pairs it with an empty destination over real mutual TLS on
loopback, and times `esync initial-sync --wait` end to end (worker, sync service, transfer,
apply). On PostgreSQL it then times `pg_dump --table='cms_*' source | psql scratch` of the same
tables. Everything it creates lives in a temporary folder and scratch databases, removed after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ESYNC = [str(Path(sys.executable).parent / "esync")]

BUILD = """
import os
from django.conf import settings
from django.db import transaction
from cms.models import (Content, ContentHistory, Folder, LibraryItem, MetadataDefinition,
                        MetadataValue)
n = {n}
with transaction.atomic():
    folder = Folder.objects.create(name="Bench")
    keywords = MetadataDefinition.objects.create(name="Keywords")
for start in range(0, n, 5000):
    with transaction.atomic():
        batch = Content.objects.bulk_create(
            [Content(folder=folder, title=f"Page {{i}}", html="<p>" + "x" * 400 + "</p>",
                     status="A") for i in range(start, min(n, start + 5000))])
        ContentHistory.objects.bulk_create([ContentHistory(content=c, version=1, title=c.title,
                                            html=c.html, status="A") for c in batch])
        MetadataValue.objects.bulk_create([MetadataValue(content=c, definition=keywords,
                                           value="bench") for c in batch])
images = settings.SITE_ROOT / "uploadedimages"
for i in range(max(1, n // 100)):
    (images / f"bench{{i}}.bin").write_bytes(os.urandom(10240))
    LibraryItem.objects.create(kind="file", title=f"bench{{i}}",
                               path=f"uploadedimages/bench{{i}}.bin")
"""


def compile_project() -> None:
    """The project's modules compiled to bytecode, as any installed copy has them (where
    PYTHONDONTWRITEBYTECODE is set, an editable install would otherwise compile them from
    source in every esync command the bench times)."""
    import compileall

    project = Path(__file__).resolve().parent.parent
    for package in ("esync_site", "cms", "certificates", "relationships", "profiles",
                    "syncengine"):
        compileall.compile_dir(project / package, quiet=1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def esync(*arguments: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "ESYNC_HOME")}
    result = subprocess.run([*ESYNC, *arguments], capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"esync {' '.join(arguments)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def wait_for_port(port: int) -> None:
    for _ in range(150):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on {port}")


def create_pair(root: Path, backend: str, postgres: str, scratch: list[str],
                ) -> tuple[dict[str, Path], dict[str, tuple[int, int]]]:
    """A source and a destination instance that trust each other: (homes, (web, sync) ports).
    On PostgreSQL each gets a new database, named in `scratch` for the caller to drop."""
    urls = {}
    if backend == "postgres":
        import psycopg

        for name in ("source", "destination"):
            database = f"esync_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{database}"')
            scratch.append(database)
            urls[name] = f"{postgres.rsplit('/', 1)[0]}/{database}"
    homes, ports = {}, {}
    for name in ("source", "destination"):
        homes[name], ports[name] = root / name, (free_port(), free_port())
        extra = ["--db", urls[name]] if name in urls else []
        esync("init", str(homes[name]), "--name", name, "--web-port", str(ports[name][0]),
              "--sync-port", str(ports[name][1]), "--admin", "admin:bench-pass-1", *extra)
        esync("--home", str(homes[name]), "certs", "generate")
    for a, b in (("source", "destination"), ("destination", "source")):
        folder = root / f"{a}-export"
        esync("--home", str(homes[a]), "certs", "export", str(folder))
        esync("--home", str(homes[b]), "certs", "apply", str(folder))
    return homes, ports


def serve_pair(root: Path, homes: dict[str, Path], ports: dict[str, tuple[int, int]],
               processes: list[subprocess.Popen]) -> None:
    """The destination's sync service and the source's `serve` running, and the source's
    relationship to the destination (upload) created: relationship 1."""
    log = open(root / "processes.log", "w")  # noqa: SIM115
    processes.append(subprocess.Popen([*ESYNC, "--home", str(homes["destination"]),
                                       "syncservice"], stdout=log, stderr=log))
    processes.append(subprocess.Popen([*ESYNC, "--home", str(homes["source"]), "serve"],
                                      stdout=log, stderr=log))
    wait_for_port(ports["destination"][1])
    wait_for_port(ports["source"][0])
    esync("--home", str(homes["source"]), "relationship", "create", "--remote",
          f"127.0.0.1:{ports['destination'][1]}", "--initial-direction", "upload")


def clean_up(processes: list[subprocess.Popen], scratch: list[str], postgres: str,
             root: Path) -> None:
    """Stop the instances (Ctrl-C, then kill), drop the scratch databases, remove the folder."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    if scratch:
        import psycopg

        with psycopg.connect(postgres, autocommit=True) as conn:
            for database in scratch:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    compile_project()
    root = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    scratch: list[str] = []
    processes: list[subprocess.Popen] = []
    try:
        homes, ports = create_pair(root, args.backend, args.postgres, scratch)

        started = time.perf_counter()
        esync("--home", str(homes["source"]), "manage", "shell", "--no-imports", "-c",
              BUILD.format(n=args.n))
        print(f"built {args.n:,} content rows (+history, +metadata) and "
              f"{max(1, args.n // 100)} files in {time.perf_counter() - started:.1f} s")

        serve_pair(root, homes, ports, processes)
        started = time.perf_counter()
        out = esync("--home", str(homes["source"]), "initial-sync", "1", "--wait")
        elapsed = time.perf_counter() - started
        print(out.strip())
        print(f"{args.backend:<9} esync initial sync   {args.n:>9,} rows  {elapsed:8.2f} s")

        if args.backend == "postgres":
            import psycopg

            target = f"esync_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{target}"')
            scratch.append(target)
            base = args.postgres.rsplit("/", 1)[0]
            source_url = f"{base}/{scratch[0]}"  # create_pair made the source's first
            started = time.perf_counter()
            dump = subprocess.Popen(["pg_dump", "--table=cms_*", source_url],
                                    stdout=subprocess.PIPE)
            subprocess.run(["psql", "--quiet", "--output=/dev/null", f"{base}/{target}"],
                           stdin=dump.stdout, check=True)
            dump.wait()
            baseline = time.perf_counter() - started
            print(f"{'postgres':<9} pg_dump | psql       {args.n:>9,} rows  {baseline:8.2f} s"
                  f"   (esync / baseline = {elapsed / baseline:.2f})")
    finally:
        clean_up(processes, scratch, args.postgres, root)


if __name__ == "__main__":
    main()
