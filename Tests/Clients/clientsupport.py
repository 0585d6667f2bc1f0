"""Shared helpers of the client checks (Tests/Clients): a report of named checks, a private work
directory, and a guarantee that every process a client leaves behind ends.

The checking process makes itself a child subreaper (prctl PR_SET_CHILD_SUBREAPER), so the jobs
LocalDRM starts inside a client become its descendants even once the client has exited; after
each client run it waits for them to end, reports any that outlived the run, and kills and reaps
them, so that no job survives the check.
"""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


class Report:
    """Named checks, printed as they are made; `exit()` ends the program with their verdict."""

    def __init__(self, title):
        self.title = title
        self.failures = []
        self.count = 0

    def check(self, name, ok, detail=""):
        self.count += 1
        print(("ok     " if ok else "FAILED ") + name + ("" if ok or not detail else "\n       " + detail.replace("\n", "\n       ")),
              flush=True)
        if not ok:
            self.failures.append(name)
        return ok

    def exit(self):
        if self.failures:
            print(f"{self.title}: {len(self.failures)} of {self.count} checks FAILED:", flush=True)
            for name in self.failures:
                print("  - " + name, flush=True)
            sys.exit(1)
        print(f"{self.title}: all {self.count} checks passed", flush=True)
        sys.exit(0)


def become_subreaper():
    """Orphans of our descendants (jobs of an exited client) are re-parented to us, not to init.
    If we are told to stop (SIGTERM, SIGINT: the Makefile's `timeout`, Ctrl-C), every descendant is
    killed first, so that no job outlives the check."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    checker = os.getpid()

    def stop(signum, _frame):
        if os.getpid() != checker:  # a forked child of the checker (ruffus's multiprocessing manager)
            os._exit(128 + signum)
        left = live_descendants()
        print(f"{signal.Signals(signum).name}: killing {len(left)} remaining processes", flush=True)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _parents():
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain blanks and parentheses
        fields = stat[stat.rindex(b")") + 2:].split()
        parents[int(entry)] = (int(fields[1]), fields[0].decode())
    return parents


def live_descendants():
    """Pids of our live (not zombie) descendants, with their command lines."""
    parents = _parents()
    children = {}
    for pid, (ppid, _) in parents.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if parents[pid][1] != "Z":
            found.append(pid)
    return {pid: command_line(pid) for pid in found}


def command_line(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def reap_orphans():
    """Collects the exit status of re-parented orphans (never of a running Popen: call between runs)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def end_leftovers(report, after, patience=20.0):
    """Waits up to `patience` seconds for every descendant to end; any still alive is a failed check
    and is killed. Always leaves no descendant behind."""
    deadline = time.monotonic() + patience
    left = live_descendants()
    while left and time.monotonic() < deadline:
        reap_orphans()
        time.sleep(0.2)
        left = live_descendants()
    report.check(f"no process outlives {after}", not left,
                 "still running: " + "; ".join(f"{pid}: {cmd}" for pid, cmd in left.items()))
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while live_descendants() and time.monotonic() < deadline:
        time.sleep(0.1)
    reap_orphans()


def finish(report, work, keep):
    """Removes the work directory after a clean run (kept after a failure, or with --keep), then
    exits with the report's status."""
    if not report.failures and not keep:
        os.chdir("/")
        shutil.rmtree(work)
    else:
        print(f"(work directory kept: {work})", flush=True)
    report.exit()


def run(args, timeout, **kwargs):
    """Runs a client in its own session with a time limit; on timeout its whole process group is
    killed. Returns (exit code, combined output); exit code None means it timed out."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, **kwargs)
    try:
        output, _ = process.communicate(timeout=timeout)
        return process.returncode, output.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return None, output.decode(errors="replace") + f"\n[killed after {timeout} s]"


def tail(text, lines=40):
    return "\n".join(text.rstrip().splitlines()[-lines:])
