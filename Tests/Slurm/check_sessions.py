#!/usr/bin/env python3
"""Sessions across processes on Slurm, through drmaa-python and our libdrmaa.so
($DRMAA_LIBRARY_PATH, DRMAA_BACKEND=slurm):

1. a client submits a bulk job and a single job, prints its contact and is killed with SIGKILL;
2. once the jobs ended (and, with a short MinJobAge, slurmctld forgot them), a new process
   re-attaches with the contact and reaps each outcome exactly once, with its exit status;
3. a third process re-attaches and finds nothing left to reap;
4. Galaxy's pattern: one process submits and exits; another, in a session of its own, sees the
   job with job_ps and terminates it by id.

Prints one line per check and exits non-zero if any failed.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import drmaa

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def child(role, *args):
    """Runs this script as `role` in a new process; its stdout."""
    result = subprocess.run([sys.executable, __file__, role, *args], capture_output=True, text=True, timeout=300)
    return result


def template(session, directory, command, args, bulk=False):
    jt = session.createJobTemplate()
    jt.remoteCommand = command
    jt.args = args
    jt.workingDirectory = directory
    jt.outputPath = ":" + directory + ("/out." + drmaa.JobTemplate.PARAMETRIC_INDEX if bulk else "/out")
    jt.joinFiles = True
    return jt


def role_submit_and_die(directory):
    s = drmaa.Session()
    s.initialize()
    ids = s.runBulkJobs(template(s, directory, "/bin/sh", ["-c", "sleep 1; exit $SLURM_ARRAY_TASK_ID"], bulk=True), 1, 3, 1)
    single = s.runJob(template(s, directory, "/bin/sh", ["-c", "exit 7"]))
    print(json.dumps({"contact": s.contact, "ids": list(ids) + [single]}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no drmaa_exit: the client dies mid-session


def role_reap(contact, ids_json):
    ids = json.loads(ids_json)
    s = drmaa.Session()
    s.initialize(contact)
    statuses = {}
    for job in ids:
        info = s.wait(job, 120)
        statuses[job] = info.exitStatus if info.hasExited else ("signal " + str(info.terminatedSignal))
    again = []
    for job in ids:
        try:
            s.wait(job, drmaa.Session.TIMEOUT_NO_WAIT)
            again.append(job)
        except drmaa.errors.InvalidJobException:
            pass
    s.exit()
    print(json.dumps({"statuses": statuses, "reaped_twice": again}), flush=True)


def role_nothing_left(contact):
    s = drmaa.Session()
    try:
        s.initialize(contact)
    except drmaa.errors.InvalidContactStringException:
        print("none (the session is gone)", flush=True)  # ended with every job reaped
        return
    s.synchronize([drmaa.Session.JOB_IDS_SESSION_ALL], 30, True)
    try:
        s.wait(drmaa.Session.JOB_IDS_SESSION_ANY, drmaa.Session.TIMEOUT_NO_WAIT)
        left = "a job"
    except drmaa.errors.InvalidJobException:
        left = "none"
    except drmaa.errors.ExitTimeoutException:
        left = "a running job"
    s.exit()
    print(left, flush=True)


def role_submit_and_exit(directory):
    with drmaa.Session() as s:
        print(s.runJob(template(s, directory, "/bin/sleep", ["300"])), flush=True)


def role_watch_and_kill(job):
    with drmaa.Session() as s:
        seen = None
        for _ in range(600):
            seen = s.jobStatus(job)
            if seen == drmaa.JobState.RUNNING:
                break
            time.sleep(0.1)
        s.control(job, drmaa.JobControlAction.TERMINATE)
        after = None
        for _ in range(600):
            after = s.jobStatus(job)
            if after in (drmaa.JobState.FAILED, drmaa.JobState.DONE):
                break
            time.sleep(0.1)
        print(json.dumps({"seen": seen, "after": after}), flush=True)


def scontrol_knows(job):
    return subprocess.run(["scontrol", "show", "job", job], capture_output=True).returncode == 0


def main():
    directory = tempfile.mkdtemp(prefix="drmaa-slurm-sessions-")
    died = child("submit-and-die", directory)
    check(died.returncode == -signal.SIGKILL, "the submitting client was killed with SIGKILL mid-session")
    try:
        submitted = json.loads(died.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        check(False, "the submitting client printed its contact and job ids: %r %r" % (died.stdout, died.stderr))
        return
    contact, ids = submitted["contact"], submitted["ids"]
    check("backend=slurm" in contact, "the contact names the Slurm backend: " + contact)
    # Let the jobs end and, where MinJobAge is short, slurmctld forget them.
    deadline = time.time() + 120
    while time.time() < deadline and any(scontrol_knows(job) for job in ids):
        time.sleep(1)
    print("     slurmctld %s the jobs" % ("forgot" if not any(scontrol_knows(job) for job in ids) else "still lists"))
    reaped = child("reap", contact, json.dumps(ids))
    try:
        result = json.loads(reaped.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        check(False, "a new process re-attached and reaped: %r %r" % (reaped.stdout, reaped.stderr))
        return
    expected = dict(zip(ids, [1, 2, 3, 7]))
    check(result["statuses"] == expected, "a new process re-attached and reaped every outcome with its exit status: %s" % result["statuses"])
    check(result["reaped_twice"] == [], "no outcome is delivered twice")
    left = child("nothing-left", contact)
    check(left.stdout.strip().startswith("none"), "a third process re-attaches and finds nothing left to reap: %r %r" % (left.stdout, left.stderr[-500:]))
    submitted = child("submit-and-exit", directory)
    job = submitted.stdout.strip()
    check(submitted.returncode == 0 and job.isdigit(), "a process submits a job and exits: %r" % job)
    if job.isdigit():
        watched = child("watch-and-kill", job)
        try:
            result = json.loads(watched.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            result = {"error": watched.stderr[-500:]}
        check(result.get("seen") == drmaa.JobState.RUNNING and result.get("after") == drmaa.JobState.FAILED,
              "another process sees the job running with job_ps and terminates it by id: %s" % result)
        subprocess.run(["scancel", job])
    subprocess.run(["rm", "-rf", directory])


if __name__ == "__main__":
    if len(sys.argv) > 1:
        {"submit-and-die": role_submit_and_die, "reap": role_reap, "nothing-left": role_nothing_left,
         "submit-and-exit": role_submit_and_exit, "watch-and-kill": role_watch_and_kill}[sys.argv[1]](*sys.argv[2:])
        sys.exit(0)
    main()
    print("%d check(s) failed" % len(failures) if failures else "all session checks passed")
    sys.exit(1 if failures else 0)
