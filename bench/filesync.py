"""File sync (a Templates profile) of a site tree, beside rsync to a loopback rsync daemon.

    python bench/filesync.py [--files 100000] [--megabytes 2048] [--big-megabytes 1024]

Pairs a source instance (staging) with a destination (production) over real mutual TLS on
loopback and runs their initial sync. Then writes, in the source's site root, `site/`: --files
files (.html, .css, .js, .png) in nested folders, most 1-20 KB and a few 100 KB-1 MB, about
--megabytes MB in all, plus `site/media/big.bin` of --big-megabytes MB (random content, so
neither side gains from compression). Adds a one-way Templates profile `Files` and times
`esync sync Files --wait` end to end (the command's wall time: queue, worker, plan, transfer,
apply) beside rsync copying the same tree to a folder of its own through an rsync daemon:

    rsync --daemon --no-detach --port P --config ROOT/rsyncd.conf

    # ROOT/rsyncd.conf
    use chroot = no
    log file = ROOT/rsyncd.log
    [bench]
        path = ROOT/rsync-destination
        read only = no
        uid = <the bench's uid>
        gid = <the bench's gid>

    rsync -a --delete --stats SRC/siteroot/site/ rsync://127.0.0.1:P/bench/

Scenarios, each applied to the source tree and then synced by both: the first full copy, three
runs with no change, 1% of the files rewritten (same size), 1 MB appended to the big file, 1 MB
inserted at its start, and 1,000 files deleted. Bytes: esync's from the run's log
(`esync logs --json`), rsync's "Total bytes sent" of --stats. Before each tool's run, unwritten
data is flushed (`sync`, untimed), so neither starts with a disk still busy with the last
scenario. The table's last column is the esync run's own duration (its log's start to end),
without the command's start-up and polling. The project's modules are compiled to bytecode
first, as an installed copy has them. Everything lives in a temporary folder, removed after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from initialsync import (
    clean_up,
    compile_project,
    create_pair,
    esync,
    free_port,
    serve_pair,
    wait_for_port,
)

KB, MB = 1024, 1024 * 1024
EXTENSIONS = (".html", ".css", ".js", ".png")
FILES_PER_FOLDER, SUBFOLDERS = 50, 10
PROGRESS = re.compile(r"^\[\s*[\d.]+s\] (.*)$")
RSYNCD_CONF = """use chroot = no
log file = {root}/rsyncd.log
pid file = {root}/rsyncd.pid
[bench]
    path = {destination}
    read only = no
    uid = {uid}
    gid = {gid}
"""


def sizes_of(count: int, total: int, rng: random.Random) -> list[int]:
    """`count` file sizes, mostly 1-20 KB; some raised to 100 KB-1 MB until about `total`."""
    sizes = [rng.randint(1 * KB, 20 * KB) for _ in range(count)]
    budget = total - sum(sizes)
    small = list(range(count))
    rng.shuffle(small)
    while budget > 100 * KB and small:
        i = small.pop()
        size = min(rng.randint(100 * KB, MB), budget + sizes[i])
        budget -= size - sizes[i]
        sizes[i] = size
    return sizes


def write_tree(site: Path, count: int, total: int, big: int, rng: random.Random) -> list[Path]:
    """The site tree: `count` files in site/dirNNN/subNN/ and site/media/big.bin."""
    files = []
    for i, size in enumerate(sizes_of(count, total, rng)):
        folder = i // FILES_PER_FOLDER
        path = (site / f"dir{folder // SUBFOLDERS:03d}" / f"sub{folder % SUBFOLDERS:02d}"
                / f"file{i:06d}{EXTENSIONS[i % len(EXTENSIONS)]}")
        if i % FILES_PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        files.append(path)
    (site / "media").mkdir(parents=True, exist_ok=True)
    with open(site / "media" / "big.bin", "wb") as out:
        for _ in range(big // MB):
            out.write(rng.randbytes(MB))
        out.write(rng.randbytes(big % MB))
    return files


def phases(out: str) -> list[str]:
    """`esync sync --wait` output, shortened: of each run of progress lines in one phase (the
    same text, numbers aside), the first and the last."""
    groups: list[list[str]] = []
    last = None
    for line in out.strip().splitlines():
        match = PROGRESS.match(line)
        key = re.sub(r"[\d,.]+", "#", match.group(1).split(" — ")[0]) if match else line
        if key != last or not groups:
            groups.append([])
        groups[-1].append(line)
        last = key
    return [line for group in groups for line in (group if len(group) < 3 else
                                                  (group[0], group[-1]))]


def listing(folder: Path) -> dict[str, int]:
    """Relative path → size of every file under `folder`."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--megabytes", type=int, default=2048)
    parser.add_argument("--big-megabytes", type=int, default=1024)
    args = parser.parse_args()

    compile_project()
    root = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    processes: list[subprocess.Popen] = []
    try:
        homes, ports = create_pair(root, "sqlite", "", [])
        source = ["--home", str(homes["source"])]

        serve_pair(root, homes, ports, processes)
        started = time.perf_counter()
        esync(*source, "initial-sync", "1", "--wait")
        print(f"initial sync (no site files yet) in {time.perf_counter() - started:.1f} s")

        site = homes["source"] / "siteroot" / "site"
        rng = random.Random(20240601)
        started = time.perf_counter()
        files = write_tree(site, args.files, args.megabytes * MB, args.big_megabytes * MB, rng)
        total = sum(p.stat().st_size for p in files)
        print(f"wrote {len(files):,} files ({total / MB:,.0f} MB) and a "
              f"{args.big_megabytes:,} MB big.bin in {time.perf_counter() - started:.1f} s")

        destination = root / "rsync-destination"
        destination.mkdir()
        (root / "rsyncd.conf").write_text(RSYNCD_CONF.format(
            root=root, destination=destination, uid=os.getuid(), gid=os.getgid()))
        rsync_port = free_port()
        rsync_log = open(root / "rsyncd.out", "w")  # noqa: SIM115
        processes.append(subprocess.Popen(
            ["rsync", "--daemon", "--no-detach", "--port", str(rsync_port),
             "--config", str(root / "rsyncd.conf")], stdout=rsync_log, stderr=rsync_log))
        wait_for_port(rsync_port)

        esync(*source, "profile", "add", "1", "--name", "Files", "--items", "templates",
              "--direction", "upload")

        def run_esync() -> tuple[float, float, int, str]:
            started = time.perf_counter()
            try:
                out = esync(*source, "sync", "Files", "--wait")
            except SystemExit as failure:  # esync() exits on a non-zero code: report, go on
                out = str(failure)
            elapsed = time.perf_counter() - started
            for line in phases(out):
                print(f"    esync| {line}")
            last = json.loads(esync(*source, "logs", "--json"))[0]
            if last["status"] != "success":
                print(f"    esync run {last['id']} ended {last['status']!r}: {last['message']}")
            run = (datetime.fromisoformat(last["end"]) - datetime.fromisoformat(last["start"])
                   ).total_seconds() if last["end"] and last["start"] else float("nan")
            return elapsed, run, last["bytes"] or 0, last["status"]

        def run_rsync() -> tuple[float, int]:
            started = time.perf_counter()
            result = subprocess.run(
                ["rsync", "-a", "--delete", "--stats", f"{site}/",
                 f"rsync://127.0.0.1:{rsync_port}/bench/"], capture_output=True, text=True)
            elapsed = time.perf_counter() - started
            if result.returncode != 0:
                raise SystemExit(f"rsync failed:\n{result.stdout}{result.stderr}")
            sent = re.search(r"Total bytes sent: ([\d,.]+)", result.stdout)
            return elapsed, int(re.sub(r"[,.]", "", sent.group(1))) if sent else 0

        rows = []

        def measure(scenario: str) -> None:
            print(f"{scenario}:")
            # Each tool starts with the disk at rest: what the scenario's edits or the last
            # run left unwritten is flushed first, outside the timing (esync flushes every
            # file it lands, rsync none, so a disk still busy with the previous scenario's
            # gigabytes would slow one side only and vary from run to run).
            os.sync()
            seconds, run, sent, status = run_esync()
            os.sync()
            rsync_seconds, rsync_sent = run_rsync()
            print(f"    esync {seconds:.2f} s (the run itself {run:.2f} s, {status}), "
                  f"rsync {rsync_seconds:.2f} s")
            rows.append((scenario, seconds, rsync_seconds, sent, rsync_sent, status, run))

        measure("first copy")
        for attempt in ("no change", "no change, again", "no change, a third time"):
            measure(attempt)

        changed = rng.sample(files, max(1, len(files) // 100))
        for path in changed:
            path.write_bytes(rng.randbytes(path.stat().st_size))
        measure(f"{len(changed):,} files changed (1%)")

        with open(site / "media" / "big.bin", "ab") as out:
            out.write(rng.randbytes(MB))
        measure("1 MB appended to big.bin")

        big = site / "media" / "big.bin"
        with open(big, "rb") as old, open(site / "media" / ".big.new", "wb") as out:
            out.write(rng.randbytes(MB))
            while chunk := old.read(64 * MB):
                out.write(chunk)
        os.replace(site / "media" / ".big.new", big)
        measure("1 MB inserted at big.bin's start")

        deleted = rng.sample(files, min(1000, len(files) // 2))
        for path in deleted:
            path.unlink()
        measure(f"{len(deleted):,} files deleted")

        expected = listing(site)
        for name, copy in (("esync", homes["destination"] / "siteroot" / "site"),
                           ("rsync", destination)):
            found = listing(copy)
            print(f"{name}'s copy: {len(found):,} files, "
                  + ("same names and sizes as the source" if found == expected else
                     f"DIFFERS from the source ({len(set(expected) - set(found))} missing, "
                     f"{len(set(found) - set(expected))} extra, "
                     f"{sum(found.get(k) != v for k, v in expected.items())} not alike)"))
        print()
        print(f"{len(files):,} files, {total / MB:,.0f} MB + big.bin {args.big_megabytes:,} MB")
        print(f"{'scenario':<28} {'esync s':>9} {'rsync s':>9} {'ratio':>7} "
              f"{'esync bytes':>14} {'rsync bytes':>14}  {'status':<8} {'esync run s':>11}")
        for scenario, seconds, rsync_seconds, sent, rsync_sent, status, run in rows:
            print(f"{scenario:<28} {seconds:9.2f} {rsync_seconds:9.2f} "
                  f"{seconds / rsync_seconds:7.2f} {sent:>14,} {rsync_sent:>14,}  "
                  f"{status:<8} {run:11.2f}")
        # The median of the three no-change runs: the first after the copy may find the
        # journals overflowed by it (the destination wrote every file) and scan in full.
        no_change = sorted(rows[1:4], key=lambda row: row[1] / row[2])[1]
        one_percent, append, inserted = rows[4], rows[5], rows[6]
        print()
        print(f"goal: no change <= rsync           "
              f"{'met' if no_change[1] <= no_change[2] else 'MISSED'}"
              f" ({no_change[1] / no_change[2]:.2f}x, the median of three)")
        print(f"goal: 1% changed <= 1.2x rsync     "
              f"{'met' if one_percent[1] <= 1.2 * one_percent[2] else 'MISSED'}"
              f" ({one_percent[1] / one_percent[2]:.2f}x)")
        print(f"goal: append sends < 5 MB          "
              f"{'met' if append[3] < 5 * MB else 'MISSED'} ({append[3] / MB:.2f} MB)")
        print(f"(an insertion at the start sends {inserted[3] / MB:.2f} MB; rsync "
              f"{inserted[4] / MB:.2f} MB)")
    finally:
        clean_up(processes, [], "", root)


if __name__ == "__main__":
    main()
