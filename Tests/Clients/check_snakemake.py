#!/usr/bin/env python3
"""Snakemake 9 with snakemake-executor-plugin-drmaa against libdrmaa.so (make test-clients).

Runs the workflow in Tests/Clients/snakemake/Snakefile through `--executor drmaa` four times, each
in the same private work directory, and checks what happened, not only that it ran:

1. the whole workflow (fan-out over four samples, a gather, a report; the rule with `threads: 2`
   asks for `-pe smp {threads}` through --drmaa-args, on two slots): exit 0, every file's content,
   no two two-slot jobs at once, a distinct DRMAA job id per job, and each job's stdout and stderr
   in --drmaa-log-dir under Grid Engine's names (`<job name>.o<job id>`, `.e<job id>`);
2. the same command again: nothing to do, no job submitted, no file touched;
3. a target whose rule exits 3, with --keep-going: the run fails, that rule's output is gone, the
   independent rule's output is there, the failing job's stderr is in its log;
   Then the same with DRMAA_LOCAL_NONZERO_EXIT=failed: the job is FAILED, and Snakemake reports
   the job's failure rather than its missing output;
4. a target whose rule sleeps, cancelled with SIGINT once its job runs: Snakemake exits non-zero,
   the job's process ends (TERMINATE through DRMAA) and its output is never made.

After runs 1-3 no job's private TMPDIR is left (the checker gives Snakemake a TMPDIR of its own).

After each run no process may be left: the checker is a subreaper, so it sees the jobs of a
Snakemake that has exited (clientsupport.py).
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clientsupport import finish, Report, become_subreaper, end_leftovers, run, tail  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLES = ["a", "b", "c", "d"]
SUBMITTED = re.compile(r"Submitted DRMAA job (\d+) with external jobid (\S+?)\.?$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")


def submissions(output):
    """(rule, external job id) for every job Snakemake submitted, in order."""
    found, rule = [], None
    for line in output.splitlines():
        line = line.strip()
        if m := RULE.match(line):
            rule = m.group(1)
        elif m := SUBMITTED.search(line):
            found.append((rule, m.group(2)))
    return found


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"<{e.strerror}>"


def snapshot(root):
    """Path → mtime of every file under root, .snakemake excepted."""
    result = {}
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".snakemake"]
        for name in files:
            path = os.path.join(directory, name)
            result[os.path.relpath(path, root)] = os.stat(path).st_mtime_ns
    return result


def check_logs(report, logs, jobs, what):
    """Every submitted job has its stdout and stderr in the log directory, under Grid Engine's names."""
    try:
        names = os.listdir(logs)
    except OSError as e:
        report.check(f"{what}: --drmaa-log-dir {logs} is a directory", False, str(e))
        return
    missing, wrong = [], []
    for rule, job_id in jobs:
        for kind in ("o", "e"):
            match = [n for n in names if n.endswith(f".{kind}{job_id}") and n.startswith(f"snakejob.{rule}.")]
            if len(match) != 1:
                missing.append(f"snakejob.{rule}.*.sh.{kind}{job_id}")
        text = "".join(read(os.path.join(logs, n)) for n in names
                       if n.endswith((f".o{job_id}", f".e{job_id}")))
        if f"localrule {rule}:" not in text:
            wrong.append(f"job {job_id} ({rule})")
    report.check(f"{what}: each job's stdout and stderr in --drmaa-log-dir as <job name>.o<id>, .e<id>",
                 not missing, "missing: " + ", ".join(missing) + f"\nthe directory holds: {sorted(names)}")
    report.check(f"{what}: each job's log shows the rule it ran", not wrong and not missing,
                 "wrong or empty: " + ", ".join(wrong))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib", required=True, help="the libdrmaa.so to test (DRMAA_LIBRARY_PATH)")
    parser.add_argument("--venv", required=True, help="the virtual environment with snakemake and the plugin")
    parser.add_argument("--work", required=True, help="a directory for this run's private work directory")
    parser.add_argument("--drmaa-args", default="-pe smp {threads} -l h_vmem=1G",
                        help="native specification of each job (default: Grid Engine's dialect)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds each Snakemake run may take")
    parser.add_argument("--keep", action="store_true", help="keep the work directory even if all passes")
    options = parser.parse_args()

    become_subreaper()
    os.makedirs(options.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="snakemake-", dir=os.path.abspath(options.work))
    home, workflow = os.path.join(work, "home"), os.path.join(work, "workflow")
    os.makedirs(home)
    os.makedirs(workflow)
    shutil.copy(os.path.join(HERE, "snakemake", "Snakefile"), workflow)
    logs = os.path.join(workflow, "logs")
    print(f"== Snakemake against {options.lib}, in {work}", flush=True)

    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("DRMAA_", "SNAKEMAKE_", "XDG_")):
            del env[name]
    temporary = os.path.join(work, "tmp")
    os.makedirs(temporary)
    # The durable mode's daemon (its state under this HOME) leaves a second after its last client,
    # so that each run's "no process outlives" check sees it go.
    env.update(HOME=home, TMPDIR=temporary, DRMAA_LIBRARY_PATH=os.path.abspath(options.lib), DRMAA_LOCAL_SLOTS="2",
               DRMAA_LOCAL_IDLE_EXIT="1",
               PATH=os.path.join(os.path.abspath(options.venv), "bin") + os.pathsep + env["PATH"])
    snakemake = os.path.join(os.path.abspath(options.venv), "bin", "snakemake")
    # --drmaa-args=VALUE: a value that starts with '-' must be attached, or argparse takes it for an option.
    command = [snakemake, "--executor", "drmaa", "--jobs", "4", "--drmaa-args=" + options.drmaa_args,
               "--drmaa-log-dir", logs, "--seconds-between-status-checks", "1", "--latency-wait", "1",
               "--nocolor"]
    report = Report("test-clients: Snakemake")

    def snakemake_run(what, extra):
        started = time.monotonic()
        code, output = run(command + extra, options.timeout, cwd=workflow, env=env)
        with open(os.path.join(work, what.replace(" ", "-") + ".log"), "w") as f:
            f.write(output)
        print(f"-- {what}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        report.check(f"{what}: Snakemake ended within {options.timeout} s", code is not None, tail(output))
        return code, output

    def job_temporaries():
        return sorted(n for n in os.listdir(temporary) if n.startswith("drmaa-job-"))

    def no_job_temporaries(what):
        left = job_temporaries()
        report.check(f"{what}: every job's private TMPDIR was removed", not left, f"left in {temporary}: {left}")

    def file_is(path, expected, what):
        text = read(os.path.join(workflow, path))
        return report.check(f"{what}: {path} is {expected!r}", text == expected, f"it is {text!r}")

    # 1. The whole workflow.
    what = "workflow"
    code, output = snakemake_run(what, [])
    report.check(f"{what}: exit code 0", code == 0, tail(output))
    jobs = submissions(output)
    rules = sorted(rule for rule, _ in jobs)
    expected_rules = sorted(["generate"] * 4 + ["upper"] * 4 + ["count"] * 4 + ["gather", "checksums", "report"])
    report.check(f"{what}: 15 jobs submitted through DRMAA, each rule as often as the DAG says",
                 rules == expected_rules, f"submitted: {jobs}")
    ids = [job_id for _, job_id in jobs]
    report.check(f"{what}: each job got its own DRMAA job id", len(set(ids)) == len(ids) and "None" not in ids,
                 f"ids: {ids}")
    for sample in SAMPLES:
        lines = "".join(f"{sample.upper()} LINE {i}\n" for i in range(1, 11))
        file_is(f"upper/{sample}.txt", lines, what)
        file_is(f"counts/{sample}.txt", "10\n", what)
    file_is("results/total.txt", "40\n", what)
    file_is("results/report.txt", "samples=4 lines=40\n", what)
    checksums = read(os.path.join(workflow, "results/checksums.txt")).splitlines()
    report.check(f"{what}: results/checksums.txt has a line per sample",
                 [line.split()[-1] for line in checksums] == [f"upper/{s}.txt" for s in SAMPLES], str(checksums))
    seen = [read(os.path.join(workflow, f"upper/{s}.txt.env")).split() for s in SAMPLES]
    job_ids = [fields[0] for fields in seen if fields]
    report.check(f"{what}: each job saw its own DRMAA_JOB_ID and threads=2",
                 len(set(job_ids)) == 4 and all(f[1:2] == ["threads=2"] for f in seen) and
                 sorted(j.removeprefix("job=") for j in job_ids) ==
                 sorted(job_id for rule, job_id in jobs if rule == "upper"), f"the jobs saw: {seen}")
    report.check(f"{what}: -pe smp 2 on two slots: no two threads-2 jobs ran at once",
                 not os.path.exists(os.path.join(workflow, "overlaps.txt")),
                 "overlapping: " + read(os.path.join(workflow, "overlaps.txt")))
    check_logs(report, logs, jobs, what)
    no_job_temporaries(what)
    end_leftovers(report, what)

    # 2. The same command again: nothing to do.
    what = "rerun"
    before = snapshot(workflow)
    code, output = snakemake_run(what, [])
    report.check(f"{what}: exit code 0", code == 0, tail(output))
    report.check(f"{what}: Snakemake says there is nothing to be done", "Nothing to be done" in output, tail(output))
    report.check(f"{what}: no job submitted", not submissions(output), tail(output))
    after = snapshot(workflow)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    report.check(f"{what}: no file made or changed", not changed, f"changed: {changed}")
    no_job_temporaries(what)
    end_leftovers(report, what)

    # 3. A failing rule fails the run; the independent one still completes (--keep-going).
    #    The native specification with a leading blank, as Snakemake's documentation writes it.
    what = "failing rule"
    failing = [a if not a.startswith("--drmaa-args=") else "--drmaa-args= " + options.drmaa_args for a in command]
    code, output = run(failing + ["--keep-going", "fail_target"], options.timeout, cwd=workflow, env=env)
    with open(os.path.join(work, "failing-rule.log"), "w") as f:
        f.write(output)
    print(f"-- {what}: exit {code}", flush=True)
    report.check(f"{what}: Snakemake ended within {options.timeout} s", code is not None, tail(output))
    report.check(f"{what}: the run fails (exit code 1)", code == 1, tail(output))
    report.check(f"{what}: Snakemake names the failing rule",
                 re.search(r"(Error|MissingOutputException) in rule fails", output) is not None, tail(output))
    report.check(f"{what}: the failing rule's output was removed",
                 not os.path.exists(os.path.join(workflow, "failed/out.txt")), tail(output))
    file_is("failed/independent.txt", "fine\n", what)
    jobs = submissions(output)
    report.check(f"{what}: both rules were submitted", sorted(r for r, _ in jobs) == ["fails", "independent"],
                 f"submitted: {jobs}")
    check_logs(report, logs, jobs, what)
    failed_ids = [job_id for rule, job_id in jobs if rule == "fails"]
    failed_logs = "".join(read(os.path.join(logs, n)) for n in (os.listdir(logs) if os.path.isdir(logs) else [])
                          if any(n.endswith(f".e{job_id}") for job_id in failed_ids))
    report.check(f"{what}: the failing job's stderr is in its .e log", "fails on purpose" in failed_logs,
                 failed_logs[-2000:])
    no_job_temporaries(what)
    end_leftovers(report, what)

    # 3b. The same with nonzero_exit=failed: the failing job is FAILED, and the plugin reports it
    #     from the job's state, not from its missing output.
    what = "failing rule, nonzero_exit=failed"
    code, output = run(command + ["--keep-going", "fail_target"], options.timeout, cwd=workflow,
                       env=dict(env, DRMAA_LOCAL_NONZERO_EXIT="failed"))
    with open(os.path.join(work, "failing-rule-nonzero-failed.log"), "w") as f:
        f.write(output)
    print(f"-- {what}: exit {code}", flush=True)
    report.check(f"{what}: Snakemake ended within {options.timeout} s", code is not None, tail(output))
    report.check(f"{what}: the run fails (exit code 1)", code == 1, tail(output))
    report.check(f"{what}: Snakemake reports the job's failure, not missing output",
                 "Error in rule fails" in output and "MissingOutputException" not in output, tail(output))
    report.check(f"{what}: only the failing rule ran again", [r for r, _ in submissions(output)] == ["fails"],
                 f"submitted: {submissions(output)}")
    report.check(f"{what}: the failing rule's output was removed",
                 not os.path.exists(os.path.join(workflow, "failed/out.txt")), tail(output))
    no_job_temporaries(what)
    end_leftovers(report, what)

    # 4. SIGINT while a job runs: Snakemake terminates it through DRMAA.
    what = "SIGINT"
    pid_file = os.path.join(workflow, "cancel", "sleeper.pid")
    with open(os.path.join(work, "sigint.log"), "w") as log:
        process = subprocess.Popen(command + ["cancel/never.txt"], cwd=workflow, env=env, start_new_session=True,
                                   stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + options.timeout
    job_pid = None
    while time.monotonic() < deadline and process.poll() is None:
        text = read(pid_file).strip()
        if text.isdigit():
            job_pid = int(text)
            break
        time.sleep(0.2)
    report.check(f"{what}: the sleeping job started", job_pid is not None, tail(read(os.path.join(work, "sigint.log"))))
    if job_pid is not None:
        os.kill(process.pid, signal.SIGINT)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        code = None
    output = read(os.path.join(work, "sigint.log"))
    print(f"-- {what}: exit {code}", flush=True)
    report.check(f"{what}: Snakemake exits within 60 s of SIGINT, non-zero", code not in (None, 0), tail(output))
    report.check(f"{what}: Snakemake terminated its jobs", "Terminating processes on user request" in output,
                 tail(output))
    if job_pid is not None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and alive(job_pid):
            time.sleep(0.2)
        report.check(f"{what}: the job's process {job_pid} ended", not alive(job_pid), f"still running: {job_pid}")
    report.check(f"{what}: the cancelled rule's output was never made",
                 not os.path.exists(os.path.join(workflow, "cancel/never.txt")))
    left = job_temporaries()
    if left:  # not a check: the job may end after Snakemake has exited, and then nobody removes it
        print(f"note   {what}: the cancelled job's TMPDIR was left: {left}", flush=True)
    end_leftovers(report, what)

    finish(report, work, options.keep)


def alive(pid):
    """True while pid is a process that has not exited (a zombie has)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2:].split()[0] != b"Z"


if __name__ == "__main__":
    main()
