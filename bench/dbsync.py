"""One incremental (change-tracked) database sync of K changes on N content rows.

    python bench/dbsync.py N K [--backend sqlite|postgres] [--postgres ADMIN_URL]

Builds a source instance with N content rows (each with one history version and one metadata
value), pairs it with an empty destination over real mutual TLS on loopback and times the
initial sync of that data. Then changes K content items on the source — a third updated, a
third inserted, a third deleted (with their history and metadata) — and times, through the
sync service: the preview of the next run, and one bidirectional profile sync end to end
(`esync sync --wait`: queue, worker, both change sets, apply on the destination), giving also
the run's own duration (its start to end, without the command's start-up and polling).
Everything lives in a temporary folder and scratch databases, removed after.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from initialsync import BUILD, clean_up, create_pair, esync, serve_pair

CHANGE = """
from django.db import transaction
from cms.models import Content, ContentHistory, Folder, MetadataValue
k = {k}
ids = list(Content.objects.order_by("id").values_list("id", flat=True)[:k])
third = max(1, k // 3)
folder = Folder.objects.get(name="Bench")
with transaction.atomic():
    Content.objects.filter(id__in=ids[:third]).update(title="Changed")
    Content.objects.filter(id__in=ids[third:2 * third]).delete()
    made = Content.objects.bulk_create([Content(folder=folder, title=f"New {{i}}", html="<p>n</p>")
                                        for i in range(k - 2 * third)])
print(len(ids[:third]), len(ids[third:2 * third]), len(made))
"""

RUN_SECONDS = """
from syncengine.models import SyncRun
r = SyncRun.objects.order_by("-id").first()
print((r.ended_at - r.started_at).total_seconds(), r.applied, r.skipped, r.total, r.status)
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("k", type=int)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    scratch: list[str] = []
    processes: list[subprocess.Popen] = []
    try:
        homes, ports = create_pair(root, args.backend, args.postgres, scratch)
        source = ["--home", str(homes["source"])]

        started = time.perf_counter()
        esync(*source, "manage", "shell", "--no-imports", "-c", BUILD.format(n=args.n))
        print(f"built {args.n:,} content rows (+history, +metadata) in "
              f"{time.perf_counter() - started:.1f} s")

        serve_pair(root, homes, ports, processes)
        started = time.perf_counter()
        esync(*source, "initial-sync", "1", "--wait")
        initial = time.perf_counter() - started
        esync(*source, "profile", "add", "1", "--name", "bench", "--items", "database",
              "--direction", "bidirectional")

        counts = esync(*source, "manage", "shell", "--no-imports", "-c",
                       CHANGE.format(k=args.k)).split()
        print(f"changed {args.k:,} items: {counts[0]} updated, {counts[1]} deleted (with "
              f"their history and metadata), {counts[2]} inserted")

        started = time.perf_counter()
        preview = json.loads(esync(*source, "preview", "bench", "--json"))
        preview_seconds = time.perf_counter() - started
        started = time.perf_counter()
        esync(*source, "sync", "bench", "--wait")
        sync_seconds = time.perf_counter() - started
        run_seconds, applied, skipped, total, status = esync(
            *source, "manage", "shell", "--no-imports", "-c", RUN_SECONDS).split()
        label = f"{args.backend:<9} N={args.n:>9,} K={args.k:>6,}"
        print(f"{label}  preview (esync preview --json)    {preview_seconds:8.2f} s"
              f"   ({_count(preview)} changes listed)")
        print(f"{label}  incremental sync, end to end      {sync_seconds:8.2f} s"
              f"   ({status}: applied {applied}, skipped {skipped}, total {total})")
        print(f"{label}  incremental sync, the run itself  {float(run_seconds):8.2f} s")
        print(f"{label}  initial sync of the same data     {initial:8.2f} s")
    finally:
        clean_up(processes, scratch, args.postgres, root)


def _count(preview: object) -> int:
    """Changes listed in `esync preview --json`, whatever its exact nesting."""
    if isinstance(preview, dict):
        if "op" in preview:
            return 1
        return sum(_count(v) for v in preview.values())
    if isinstance(preview, list):
        return sum(_count(v) for v in preview)
    return 0


if __name__ == "__main__":
    main()
