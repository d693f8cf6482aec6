"""N scheduled profiles due in the same minute, drained by two workers, one run at a time.

    python bench/schedules.py [--profiles 100] [--rows 1000] [--lead 20] [--timeout 900]
                              [--backend sqlite|postgres] [--postgres ADMIN_URL] [--keep]

Builds a source (staging) instance with --rows content rows, pairs it with an empty
destination (production) over real mutual TLS on loopback and stages it with the initial sync
(the source's `esync serve`: web, sync service, one worker and beat; the destination's sync
service). Starts a second worker on the source (`esync worker --node second`), then creates
--profiles Database/Resources upload profiles, all One Time at the same start: the next whole
minute at least --lead seconds away.

The product refuses two schedules starting in the same minute (profiles.services), so the
profiles are created directly with the ORM and each gets its beat entry from
profiles.beat_entries.save_entry: this stands for every missed start falling due at once when
an instance comes back (beat sends each missed start once), which is when it happens for real.

Waits until every profile has a finished run (at most --timeout seconds after the start;
less if one of the instances' processes exits), with progress every 10 s, then prints: the
runs that ran, the profiles that ran twice or more (must be 0), runs still queued or running,
runs overlapping in time (must be 0), runs per worker (claimed_by), their statuses, the time
to drain (the last run's end minus the common start) beside the sum of the runs' own times
(end minus start of each) and their ratio (the queue's overhead), the first run's delay after
the start, and the gaps between one run's end and the next one's start. Also counts, in the
processes' output, beat's sends, the triggers and hand-overs the workers received, and lines
with errors. Everything lives in a temporary folder (and scratch databases), stopped and
removed after, also on Ctrl-C, unless --keep.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import signal
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import suppress
from pathlib import Path

from initialsync import BUILD, ESYNC, clean_up, create_pair, esync, serve_pair

CREATE = """
import datetime as dt, json
from django.db import transaction
from django.utils import timezone
from profiles.beat_entries import save_entry
from profiles.models import Profile
from relationships.models import Relationship
relationship = Relationship.objects.get()
due = timezone.now() + dt.timedelta(seconds=LEAD)
start = due.replace(second=0, microsecond=0)
if start < due:
    start += dt.timedelta(minutes=1)
with transaction.atomic():
    for i in range(N):
        profile = Profile.objects.create(
            relationship=relationship, name=f"Due {i:04d}", items=["database"],
            direction="upload", schedule="once", schedule_start=start)
        save_entry(profile)
print("RESULT=" + json.dumps(start.isoformat()))
"""

PROGRESS = """
import datetime as dt, json
from django.db.models import Count
from syncengine.models import SyncRun
runs = SyncRun.objects.filter(kind="FullSync", scheduled_for=dt.datetime.fromisoformat(START))
finished = runs.exclude(status__in=SyncRun.ACTIVE)
print("RESULT=" + json.dumps({
    "statuses": dict(runs.values_list("status").annotate(n=Count("id")).order_by()),
    "profiles_done": finished.values("profile").distinct().count()}))
"""

RUNS = """
import datetime as dt, json
from profiles.models import Profile
from syncengine.models import SyncRun
start = dt.datetime.fromisoformat(START)
profiles = list(Profile.objects.filter(schedule="once", schedule_start=start)
                .values_list("id", flat=True))
runs = [dict(id=r.id, profile=r.profile_id, status=r.status, scheduled_for=r.scheduled_for,
             created=r.created_at, started=r.started_at, ended=r.ended_at,
             worker=r.claimed_by, late=r.late_reason, phase=r.phase, message=r.message[:200])
        for r in SyncRun.objects.filter(kind="FullSync", profile_id__in=profiles).order_by("id")]
print("RESULT=" + json.dumps({"profiles": profiles, "runs": runs}, default=str))
"""

TRIGGER = re.compile(r"Task esync\.run_scheduled_profile\[[^\]]+\] received")
HANDOVER = re.compile(r"Task esync\.run_sync\[[^\]]+\] received")
ERRORS = re.compile(r"Traceback|\bERROR\b|CRITICAL|database is locked|exited with code")


def python(home: Path, code: str, **values: object) -> object:
    """Run `code` in the instance (`esync manage shell`), given `values` as its first lines;
    returns what it prints after RESULT= (JSON)."""
    head = "".join(f"{name} = {value!r}\n" for name, value in values.items())
    out = esync("--home", str(home), "manage", "shell", "--no-imports", "-c", head + code)
    line = next(x for x in out.splitlines() if x.startswith("RESULT="))
    return json.loads(line[len("RESULT="):])


def when(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def wait_for_text(path: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise SystemExit(f"{text!r} not seen in {path} within {timeout:g} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=100, help="profiles due at once")
    parser.add_argument("--rows", type=int, default=1000, help="content rows on the source")
    parser.add_argument("--lead", type=int, default=20,
                        help="the start: the next whole minute at least this many s away")
    parser.add_argument("--timeout", type=float, default=900,
                        help="seconds after the start to wait for every profile's run")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true",
                        help="keep the instances' folder (and databases), print where")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    scratch: list[str] = []
    processes: list[subprocess.Popen] = []
    try:
        homes, ports = create_pair(root, args.backend, args.postgres, scratch)
        source = homes["source"]
        esync("--home", str(source), "manage", "shell", "--no-imports", "-c",
              BUILD.format(n=args.rows))
        serve_pair(root, homes, ports, processes)
        esync("--home", str(source), "initial-sync", "1", "--wait")
        second_log = root / "worker-second.log"
        with open(second_log, "w") as log:
            processes.append(subprocess.Popen(
                [*ESYNC, "--home", str(source), "worker", "--node", "second"],
                stdout=log, stderr=log))
        wait_for_text(second_log, " ready.", 60)
        print(f"{args.backend}: source (staging, `esync serve`: web, sync service, worker, beat"
              f" + `esync worker --node second`) and destination (production, sync service), "
              f"paired and staged ({args.rows:,} content rows)")

        made = time.perf_counter()
        start_text = python(source, CREATE, N=args.profiles, LEAD=args.lead)
        start = when(start_text)
        print(f"created {args.profiles} Database/Resources upload profiles, all One Time at "
              f"{start:%H:%M:%S} UTC, in {time.perf_counter() - made:.1f} s — directly (ORM + "
              "profiles.beat_entries.save_entry), as the product refuses two schedules in one "
              "minute: this stands for every missed start falling due at once when an "
              "instance comes back")
        report(source, root, processes, start, start_text, args)
    except KeyboardInterrupt:
        # A terminal's Ctrl-C reached the instances' processes too: let them stop on it
        # before clean_up signals them again (a second SIGINT during the sync service's
        # shutdown can leave it hanging until killed).
        deadline = time.monotonic() + 3
        for process in processes:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        raise
    finally:
        if args.keep:
            stop(processes)
            print(f"kept {root}" + (f" and databases {', '.join(scratch)}" if scratch else ""))
        else:
            clean_up(processes, scratch, args.postgres, root)


def report(source: Path, root: Path, processes: list[subprocess.Popen], start: dt.datetime,
           start_text: str, args: argparse.Namespace) -> None:
    n = args.profiles
    deadline = start.timestamp() + args.timeout
    while True:
        now = time.time()
        if now >= deadline:
            print(f"timed out {args.timeout:g} s after the start")
            break
        time.sleep(max(0.0, min(10.0, deadline - now)))
        exited = [p for p in processes if p.poll() is not None]
        if exited:
            print("stopped waiting: exited: " + ", ".join(
                f"{' '.join(p.args[1:])} (code {p.returncode})" for p in exited))
            break
        progress = python(source, PROGRESS, START=start_text)
        statuses = progress["statuses"]
        print(f"{time.time() - start.timestamp():+7.0f} s  runs done "
              f"{progress['profiles_done']:>4}/{n}  (queued {statuses.get('queued', 0)}, "
              f"running {statuses.get('running', 0)})", flush=True)
        if progress["profiles_done"] >= n:
            break

    data = python(source, RUNS, START=start_text)
    runs = data["runs"]
    for run in runs:
        for key in ("scheduled_for", "created", "started", "ended"):
            run[key] = when(run[key])
    done = [r for r in runs if r["status"] not in ("queued", "running") and r["ended"]]
    per_profile = Counter(r["profile"] for r in runs)
    ran = Counter(r["profile"] for r in done)
    twice = sorted(p for p, k in per_profile.items() if k > 1)
    never = sorted(set(data["profiles"]) - set(ran))
    active = [r for r in runs if r["status"] in ("queued", "running")]
    timed = sorted((r for r in runs if r["started"]), key=lambda r: r["started"])
    overlaps, gaps, last = [], [], None
    for run in timed:
        if last is not None:
            if run["started"] < last["ended"]:
                overlaps.append((last, run))
            else:
                gaps.append(((run["started"] - last["ended"]).total_seconds(), last, run))
        if run["ended"] and (last is None or run["ended"] > last["ended"]):
            last = run
        elif run["ended"] is None:  # still running: everything after it overlaps
            last = {**run, "ended": dt.datetime.max.replace(tzinfo=dt.UTC)}
    own = sum((r["ended"] - r["started"]).total_seconds() for r in done if r["started"])

    print()
    label = f"{args.backend:<9} {n} profiles, one start, 2 workers"
    print(f"{label}  runs that ran (finished)          {len(done):>8}")
    print(f"{label}  profiles that ran twice or more   {len(twice):>8}   (must be 0)")
    print(f"{label}  profiles without a finished run   {len(never):>8}")
    print(f"{label}  runs still queued / running       {len(active):>8}")
    print(f"{label}  runs overlapping in time          {len(overlaps):>8}   (must be 0)")
    statuses = Counter(r["status"] for r in runs)
    print(f"{label}  statuses                          "
          f"{', '.join(f'{s} {statuses[s]}' for s in ('success', 'warning', 'failed'))}"
          + "".join(f", {s} {k}" for s, k in statuses.items()
                    if s not in ("success", "warning", "failed")))
    for worker, k in sorted(Counter(r["worker"] or "(none)" for r in runs
                                    if r["started"]).items()):
        print(f"{label}  runs claimed by {worker:<40} {k:>5}")
    if done:
        drain = (max(r["ended"] for r in done) - start).total_seconds()
        median = statistics.median((r["ended"] - r["started"]).total_seconds() for r in done)
        first = (timed[0]["started"] - start).total_seconds()
        created = [(r["created"] - start).total_seconds() for r in runs]
        print(f"{label}  time to drain (last end - start)  {drain:8.2f} s")
        print(f"{label}  sum of the runs' own times        {own:8.2f} s   "
              f"(median run {median:.2f} s)")
        if own > 0:
            print(f"{label}  drain / sum (queue overhead)      {drain / own:8.2f}")
        print(f"{label}  first run started after the start {first:8.2f} s")
        print(f"{label}  runs created (beat's triggers)    {min(created):+8.2f} s to "
              f"{max(created):+.2f} s after the start")
    if gaps:
        seconds = sorted(g for g, _, _ in gaps)
        worst, before, after = max(gaps, key=lambda g: g[0])
        print(f"{label}  gap end -> next start: max {worst:.3f} s (#{before['id']} -> "
              f"#{after['id']}), median {statistics.median(seconds):.3f} s, "
              f"sum {sum(seconds):.2f} s")
    late = [r for r in runs if r["late"]]
    if late:
        print(f"{label}  runs with a late reason           {len(late):>8}   "
              f"(e.g. #{late[-1]['id']}: {late[-1]['late']})")

    texts = {name: (root / name).read_text(errors="replace") if (root / name).exists() else ""
             for name in ("processes.log", "worker-second.log")}
    sent = len(re.findall(r"Sending due task esync profile", texts["processes.log"]))
    triggers = {name: len(TRIGGER.findall(text)) for name, text in texts.items()}
    handovers = {name: len(HANDOVER.findall(text)) for name, text in texts.items()}
    print(f"{label}  beat sent {sent} triggers; the workers received: triggers "
          f"{', '.join(f'{name} {k}' for name, k in triggers.items())}; run hand-overs "
          f"(run_sync) {', '.join(f'{name} {k}' for name, k in handovers.items())}")
    for name, text in texts.items():
        errors = [line for line in text.splitlines() if ERRORS.search(line)]
        print(f"{label}  lines with errors in {name}: {len(errors)}")
        for line in errors[:5]:
            print(f"    {line[:300]}")

    for what, items in (("ran twice or more", twice), ("without a finished run", never)):
        for profile in items[:10]:
            print(f"  profile {profile} {what}: " + ("; ".join(
                f"#{r['id']} {r['status']} {r['worker']} {r['started']}..{r['ended']} "
                f"{r['phase']!r} {r['message']!r}" for r in runs if r["profile"] == profile)
                or "no run"))
    for before, after in overlaps[:10]:
        print(f"  overlap: #{before['id']} ({before['worker']}, {before['started']}.."
              f"{before['ended']}) and #{after['id']} ({after['worker']}, {after['started']}.."
              f"{after['ended']})")
    for run in active[:10]:
        print(f"  still {run['status']}: #{run['id']} profile {run['profile']} "
              f"created {run['created']} phase {run['phase']!r}")


def stop(processes: list[subprocess.Popen]) -> None:
    """Stop the instances (Ctrl-C, then kill) as clean_up does, keeping their folder."""
    for process in processes:
        process.send_signal(signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


if __name__ == "__main__":
    main()
