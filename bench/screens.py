"""Server-side render time and query count of View All Synchronization Configurations.

    python bench/screens.py [--sizes 1x1 50x20] [--repeat 30] [--warmup 3] [--limit-ms 150]
                            [--backend sqlite|postgres] [--postgres ADMIN_URL] [--show-queries]

Creates a throw-away instance (`esync init`; on PostgreSQL in a scratch database), sets its
Django up in this process and, for each size RELATIONSHIPSxPROFILES, fills it with that many
relationships (each with its own trusted peer and one initial sync run), that many profiles
in each (with three profile sync runs each: success, warning and failed, in rotating order,
all ended), then signs in as the administrator with Django's test client and GETs the
configurations screen (sync:configurations) and its JSON row-state endpoint
(sync:configurations_state): warm-up requests, then --repeat timed ones (the client call: view,
middleware and template, no network), and one more inside CaptureQueriesContext to count the
queries; then times the screen's data function alone (profiles.configurations_screen's
configurations_screen() / profile_states()), to tell query and object time from template time.
Prints per size and screen the queries, median and p95 in ms, whether each screen's
query count is the same at every size, and whether the largest size's screen median is under
--limit-ms. When a count differs between sizes, or a statement repeats within one request, it
prints those statements (numbers and strings replaced by ?) and a few of them as sent.
Everything it creates lives in a temporary folder (and scratch database), removed after.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from initialsync import esync  # noqa: E402  (bench/ is the script's folder, on sys.path)

ADMIN, PASSWORD = "admin", "bench-pass-1"
# (label, URL name, the function in profiles.configurations_screen that gathers its data)
SCREENS = (("configurations", "sync:configurations", "configurations_screen"),
           ("configurations_state", "sync:configurations_state", "profile_states"))


def size(text: str) -> tuple[int, int]:
    relationships, _, profiles = text.lower().replace("×", "x").partition("x")
    try:
        return int(relationships), int(profiles)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give RELATIONSHIPSxPROFILES, e.g. 50x20"
                                         ) from None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=size, nargs="+", default=[(1, 1), (50, 20)],
                        metavar="RxP", help="relationships x profiles each (default 1x1 50x20)")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per screen")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests first")
    parser.add_argument("--limit-ms", type=float, default=150.0,
                        help="the goal for the largest size's configurations screen median")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--show-queries", action="store_true",
                        help="print every query of the last size's requests")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="esync-bench-"))
    scratch = None
    try:
        db = []
        if args.backend == "postgres":
            import psycopg

            scratch = f"esync_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{scratch}"')
            db = ["--db", f"{args.postgres.rsplit('/', 1)[0]}/{scratch}"]
        home = root / "home"
        esync("init", str(home), "--name", "bench", "--admin", f"{ADMIN}:{PASSWORD}", *db)
        run(home, args)
    finally:
        if scratch:
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        shutil.rmtree(root, ignore_errors=True)


def run(home: Path, args: argparse.Namespace) -> None:
    os.environ.pop("DATABASE_URL", None)  # the home's esync.toml names the database
    os.environ["ESYNC_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "esync_site.settings"
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    # "testserver" is not in the instance's ALLOWED_HOSTS; send a host that is.
    client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
    client.force_login(get_user_model().objects.get(username=ADMIN))

    results: dict[tuple[str, tuple[int, int]], dict] = {}
    for relationships, profiles in args.sizes:
        started = time.perf_counter()
        fill(relationships, profiles)
        print(f"filled {relationships} relationship(s) x {profiles} profile(s) "
              f"({relationships * profiles:,} profile rows, "
              f"{relationships * (1 + 3 * profiles):,} runs) in "
              f"{time.perf_counter() - started:.1f} s")
        for label, name, gather in SCREENS:
            url = reverse(name)
            for _ in range(args.warmup):
                check(client.get(url), label, relationships * profiles)
            samples = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
                check(response, label, relationships * profiles)
            with CaptureQueriesContext(connection) as captured:
                check(client.get(url), label, relationships * profiles)
            results[label, (relationships, profiles)] = {
                "samples": samples, "queries": [q["sql"] for q in captured.captured_queries],
                "data": time_data(gather, args.repeat)}

    print()
    print(f"{connection.vendor}, server side (Django test client: middleware, view, template), "
          f"median and p95 of {args.repeat} requests after {args.warmup} warm-up")
    print(f"{'screen':<22} {'size':>7} {'rows':>6} {'queries':>8} {'median ms':>10} "
          f"{'p95 ms':>8} {'of which data ms':>17}")
    for label, _, _ in SCREENS:
        for relationships, profiles in args.sizes:
            result = results[label, (relationships, profiles)]
            samples = sorted(result["samples"])
            p95 = samples[max(0, math.ceil(0.95 * len(samples)) - 1)]
            print(f"{label:<22} {f'{relationships}x{profiles}':>7} "
                  f"{relationships * profiles:>6,} {len(result['queries']):>8} "
                  f"{statistics.median(samples):>10.1f} {p95:>8.1f} {result['data']:>17}")
    print("(of which data: the median of the view's data function alone — its queries and "
          "objects, without\n middleware and template — profiles.configurations_screen's "
          "configurations_screen() / profile_states())")
    print()
    for label, _, _ in SCREENS:
        counts = {s: len(results[label, s]["queries"]) for s in args.sizes}
        same = len(set(counts.values())) == 1
        print(f"{label}: same query count at every size: {'yes' if same else 'NO'} "
              f"({', '.join(f'{r}x{p}: {n}' for (r, p), n in counts.items())})")
    largest = max(args.sizes, key=lambda s: s[0] * s[1])
    median = statistics.median(results["configurations", largest]["samples"])
    print(f"configurations at {largest[0]}x{largest[1]}: median {median:.1f} ms, under "
          f"{args.limit_ms:g} ms: {'yes' if median < args.limit_ms else 'NO'}")

    for label, _, _ in SCREENS:
        explain_queries(label, [(s, results[label, s]["queries"]) for s in args.sizes])
    if args.show_queries:
        for label, _, _ in SCREENS:
            print(f"\n{label} at {largest[0]}x{largest[1]}, every query:")
            for sql in results[label, largest]["queries"]:
                print(f"  {sql}")
    connection.close()


def time_data(gather: str, repeat: int) -> str:
    """Median ms of the screen's data function alone, or "-" if it is not there (renamed)."""
    from profiles import configurations_screen

    function = getattr(configurations_screen, gather, None)
    if function is None:
        return "-"
    function()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return f"{statistics.median(samples):.1f}"


def fill(relationships: int, profiles: int) -> None:
    """Replace the instance's relationships, profiles and runs with relationships x profiles."""
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from certificates.models import TrustedPeer
    from profiles.models import Profile
    from relationships.models import Relationship
    from syncengine.models import SyncRun

    Kind, Status = SyncRun.Kind, SyncRun.Status
    now = timezone.now().replace(second=0, microsecond=0)
    items = (["database"], ["database", "templates"], ["workarea"], ["database", "workarea"])
    schedules = ("none", "daily", "weekly", "hourly")
    statuses = (Status.SUCCESS, Status.WARNING, Status.FAILED)
    with transaction.atomic():
        SyncRun.objects.all().delete()
        Profile.objects.all().delete()
        Relationship.objects.all().delete()
        TrustedPeer.objects.all().delete()
        peers = TrustedPeer.objects.bulk_create([TrustedPeer(
            name=f"peer{r}", server_id=uuid.uuid4(), esync_version="0.1.0",
            server_cert_pem="", client_cert_pem="", server_fingerprint=f"s{r:062x}",
            client_fingerprint=f"c{r:062x}", server_not_after=now + dt.timedelta(days=365),
            client_not_after=now + dt.timedelta(days=365)) for r in range(relationships)])
        made = Relationship.objects.bulk_create([Relationship(
            remote_host=f"10.0.{r // 250}.{r % 250 + 1}", remote_server_id=peer.server_id,
            remote_name=peer.name, remote_database=f"site{r}", certificate=peer,
            initial_direction="upload" if r % 2 else "download",
            state=Relationship.State.STAGED, staged_at=now - dt.timedelta(days=30))
            for r, peer in enumerate(peers)])
        rows = Profile.objects.bulk_create([Profile(
            relationship=relationship, name=f"Profile {p:03d}", items=items[p % len(items)],
            direction="bidirectional", schedule=schedules[p % len(schedules)],
            schedule_start=None if p % len(schedules) == 0 else now - dt.timedelta(days=7),
            schedule_weekday=(now.weekday() if schedules[p % len(schedules)] == "weekly"
                              else None))
            for relationship in made for p in range(profiles)])
        runs = [SyncRun(kind=Kind.FULL_STAGE, relationship=relationship, direction="upload",
                        status=Status.SUCCESS, user_name="bench",
                        started_at=now - dt.timedelta(days=30, minutes=5),
                        ended_at=now - dt.timedelta(days=30)) for relationship in made]
        for i, profile in enumerate(rows):
            for k in range(3):
                ended = now - dt.timedelta(hours=3 - k, minutes=i % 60)
                runs.append(SyncRun(
                    kind=Kind.FULL_SYNC, relationship=profile.relationship, profile=profile,
                    direction="bidirectional", status=statuses[(i + k) % 3], user_name="bench",
                    started_at=ended - dt.timedelta(minutes=2), ended_at=ended,
                    total=10, applied=9, skipped=1))
        SyncRun.objects.bulk_create(runs, batch_size=2000)


def check(response, label: str, rows: int) -> None:
    """The request worked and listed every profile (a redirect to the login page would be
    fast and wrong)."""
    if response.status_code != 200:
        raise SystemExit(f"{label}: HTTP {response.status_code}")
    if label == "configurations":
        listed = response.content.count(b'data-profile="')
    else:
        listed = len(response.json()["profiles"])
    if listed != rows:
        raise SystemExit(f"{label}: {listed} profile rows listed, {rows} expected")


LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")
IN_LISTS = re.compile(r"IN \(((?:[^()',]+|'(?:[^']|'')*')(?:, ?(?:[^()',]+|'(?:[^']|'')*'))*)\)")
COLUMNS = re.compile(r"^SELECT (?:(?!\bFROM\b).)*? FROM", re.DOTALL)


def shape(sql: str) -> str:
    """The statement with its values replaced by ? (and IN lists by one ?), to compare."""
    return IN_LISTS.sub("IN (?)", LITERALS.sub("?", sql))


def brief(sql: str, limit: int = 300) -> str:
    """The statement as sent, with a plain column list as … and an IN list as its length."""
    sql = COLUMNS.sub("SELECT … FROM", sql, count=1)
    sql = IN_LISTS.sub(lambda m: m.group(0) if m.group(1) == "?" else
                       f"IN (<{m.group(1).count(',') + 1} values>)", sql)
    return sql if len(sql) <= limit else sql[:limit] + " …"


def explain_queries(label: str, captures: list[tuple[tuple[int, int], list[str]]]) -> None:
    """Print statements whose count grows with the size, or that repeat within a request."""
    first_size, first = captures[0]
    last_size, last = captures[-1]
    small, large = Counter(map(shape, first)), Counter(map(shape, last))
    grown = {s: (small[s], n) for s, n in large.items() if n != small[s]}
    grown.update({s: (n, 0) for s, n in small.items() if s not in large})
    repeated = {s: n for s, n in large.items() if n > 1 and s not in grown}
    if not grown and not repeated:
        return
    print(f"\n{label}: statements whose count differs between {first_size[0]}x{first_size[1]}"
          f" and {last_size[0]}x{last_size[1]}, or that repeat within one request:")
    for statement, (before, after) in sorted(grown.items(), key=lambda x: -x[1][1]):
        print(f"  {before}x -> {after}x  {brief(statement)}")
        for sql in [q for q in last if shape(q) == statement][:3]:
            print(f"      sent: {brief(sql)}")
    for statement, n in sorted(repeated.items(), key=lambda x: -x[1]):
        print(f"  {n}x at both sizes  {brief(statement)}")


if __name__ == "__main__":
    main()
