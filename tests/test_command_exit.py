"""The `esync` program leaves as soon as its command is done, without unloading Django and
Celery module by module; what it printed still arrives in full, its exit code is the
command's, and a thread of its own still at work is waited for."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run_console(body: str, tmp_path) -> subprocess.CompletedProcess:
    script = textwrap.dedent("""
        import sys, threading, time
        from esync_site import cli

        def main():
        {body}

        cli.main = main
        cli.console_main()
        print("not reached: console_main leaves", flush=True)
    """).format(body=textwrap.indent(textwrap.dedent(body), "    "))
    # Output buffered as in any pipeline (the test machine may ask for it unbuffered).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, env=env)


def test_output_arrives_in_full_with_the_commands_exit_code(tmp_path):
    done = run_console("""
        for n in range(50_000):
            print(f"line {n}")
        print("to stderr", file=sys.stderr)
        return 3
    """, tmp_path)
    lines = done.stdout.splitlines()
    assert len(lines) == 50_000 and lines[-1] == "line 49999"
    assert done.stderr == "to stderr\n"
    assert done.returncode == 3


def test_a_thread_still_at_work_is_waited_for(tmp_path):
    done = run_console("""
        def finish():
            time.sleep(0.3)
            open("finished", "w").write("yes")
        threading.Thread(target=finish).start()
        return 0
    """, tmp_path)
    assert (tmp_path / "finished").read_text() == "yes"
    assert done.returncode == 0
    # The ordinary exit was taken: the line after console_main is not printed either, as
    # sys.exit raised out of it.
    assert "not reached" not in done.stdout
