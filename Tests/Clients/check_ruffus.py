#!/usr/bin/env python3
"""ruffus 3's drmaa_wrapper.run_job against libdrmaa.so (make test-clients).

A pipeline of four tasks (originate four files, two transforms, a merge) run with
pipeline_run(multithread=4); every job goes through ruffus.drmaa_wrapper.run_job with one shared
drmaa session and job_other_options in Grid Engine's dialect. Checks: every file's content, the
stdout and stderr that run_job hands back (read from the job's output files), a distinct DRMAA
job id per job, a second pipeline_run that runs nothing; then that ruffus raises its error for a
job that cannot start (FAILED) and for options the DRM refuses (DENIED_BY_DRM), with our
diagnosis in it. No process may be left at the end (the checker is a subreaper).

ruffus 3.0.0's run_job polls drmaa_job_ps and never calls drmaa_wait, so it cannot see exit codes:
a command that exits non-zero is DONE (DRMAA's and Grid Engine's state for it), and ruffus raises
nothing (Docs/Testing.md). A job fails for ruffus only when the DRM reports FAILED, which LocalDRM
does for such a job with the contact option nonzero_exit=failed: checked both ways.
"""

import argparse
import gc
import multiprocessing
import os
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clientsupport import finish, Report, become_subreaper, end_leftovers  # noqa: E402

SAMPLES = ["a", "b", "c", "d"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lib", required=True, help="the libdrmaa.so to test (DRMAA_LIBRARY_PATH)")
    parser.add_argument("--work", required=True, help="a directory for this run's private work directory")
    parser.add_argument("--native", default="-cwd -V -l h_vmem=1G -pe smp 1 -q all.q -b y -shell yes",
                        help="job_other_options of every job (default: Grid Engine's dialect)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory even if all passes")
    options = parser.parse_args()

    become_subreaper()
    os.makedirs(options.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ruffus-", dir=os.path.abspath(options.work))
    os.makedirs(os.path.join(work, "home"))
    for name in list(os.environ):
        if name.startswith("DRMAA_"):
            del os.environ[name]
    # The durable mode's daemon (its state under this HOME) leaves a second after its last client.
    os.environ.update(HOME=os.path.join(work, "home"), DRMAA_LIBRARY_PATH=os.path.abspath(options.lib),
                      DRMAA_LOCAL_SLOTS="4", DRMAA_LOCAL_IDLE_EXIT="1")
    os.chdir(work)  # ruffus keeps its history (.ruffus_history.sqlite) in the current directory
    print(f"== ruffus against {options.lib}, in {work}", flush=True)

    import drmaa
    from ruffus import Pipeline, suffix
    from ruffus.drmaa_wrapper import run_job
    from ruffus.ruffus_exceptions import RethrownJobError

    report = Report("test-clients: ruffus")
    session = drmaa.Session()
    session.initialize()
    lock = threading.Lock()
    ran = []  # (task, DRMAA job id the job printed, stdout, stderr), one per run_job that returned

    def job(task, command, **kwargs):
        kwargs.setdefault("job_other_options", options.native)
        stdout, stderr = run_job(command + "; echo job=$DRMAA_JOB_ID", job_name=task, drmaa_session=session,
                                 job_script_directory=os.path.join(work, "scripts"), **kwargs)
        job_id = [line.strip() for line in stdout if line.startswith("job=")]
        with lock:
            ran.append((task, job_id, stdout, stderr))

    def make_input(output):
        name = os.path.basename(output).split(".")[0]
        job("make_input", f"for i in 1 2 3 4 5; do echo {name} line $i; done > {output}")

    def upper(input, output):
        job("upper", f"tr a-z A-Z < {input} > {output}; echo made {output}; echo note for {output} >&2")

    def count(input, output):
        job("count", f"wc -l < {input} | tr -d ' ' > {output}")

    def total(inputs, output):
        job("total", f"cat {' '.join(sorted(inputs))} | awk '{{s += $1}} END {{print s}}' > {output}")

    pipeline = Pipeline("clients")
    made = pipeline.originate(task_func=make_input, output=[f"{work}/{s}.start" for s in SAMPLES])
    uppered = pipeline.transform(task_func=upper, input=made, filter=suffix(".start"), output=".upper")
    counted = pipeline.transform(task_func=count, input=uppered, filter=suffix(".upper"), output=".count")
    pipeline.merge(task_func=total, input=counted, output=f"{work}/total.txt")

    what = "pipeline"
    error = None
    try:
        pipeline.run(multithread=4, verbose=1)
    except Exception as e:  # ruffus wraps a job's exception in RethrownJobError
        error = e
    report.check(f"{what}: pipeline_run(multithread=4) completes", error is None, str(error)[-3000:])
    for sample in SAMPLES:
        expected = "".join(f"{sample.upper()} LINE {i}\n" for i in range(1, 6))
        text = read(f"{work}/{sample}.upper")
        report.check(f"{what}: {sample}.upper is {expected!r}", text == expected, f"it is {text!r}")
        text = read(f"{work}/{sample}.count")
        report.check(f"{what}: {sample}.count is '5\\n'", text == "5\n", f"it is {text!r}")
    text = read(f"{work}/total.txt")
    report.check(f"{what}: total.txt is '20\\n'", text == "20\n", f"it is {text!r}")
    tasks = sorted(task for task, *_ in ran)
    report.check(f"{what}: 13 jobs ran through run_job",
                 tasks == sorted(["make_input"] * 4 + ["upper"] * 4 + ["count"] * 4 + ["total"]), str(tasks))
    ids = [job_id[0] for _, job_id, *_ in ran if len(job_id) == 1]
    report.check(f"{what}: each job saw its own DRMAA_JOB_ID", len(ids) == len(ran) and len(set(ids)) == len(ids),
                 str(ids))
    outputs = sorted(("".join(stdout), "".join(stderr)) for task, _, stdout, stderr in ran if task == "upper")
    expected = sorted((f"made {work}/{s}.upper\njob=", f"note for {work}/{s}.upper\n") for s in SAMPLES)
    report.check(f"{what}: run_job returns each job's stdout and stderr",
                 [(o.rsplit("=", 1)[0] + "=", e) for o, e in outputs] == expected, str(outputs))

    what = "rerun"
    before = len(ran)
    error = None
    try:
        pipeline.run(multithread=4, verbose=1)
    except Exception as e:
        error = e
    report.check(f"{what}: pipeline_run completes", error is None, str(error)[-3000:])
    report.check(f"{what}: nothing is run again", len(ran) == before, str(ran[before:]))

    def failing(name, command=None, **kwargs):
        def task(output):
            job(name, command or f"echo never > {output}", **kwargs)

        failing_pipeline = Pipeline(name)
        failing_pipeline.originate(task_func=task, output=[f"{work}/{name}.out"])
        try:
            failing_pipeline.run(multithread=4, verbose=0)
        except RethrownJobError as e:
            return e
        except Exception as e:
            return AssertionError(f"not ruffus's RethrownJobError but {type(e).__name__}: {e}")
        return None

    what = "job that cannot start"
    missing = os.path.join(work, "no-such-directory")
    error = failing("cannot_start", working_directory=missing, job_other_options="")
    report.check(f"{what}: pipeline_run raises ruffus's RethrownJobError (JobFailed)",
                 isinstance(error, RethrownJobError) and "JobFailed" in str(error), str(error)[-3000:])
    report.check(f"{what}: its output is not made", not os.path.exists(f"{work}/cannot_start.out"))

    what = "non-zero exit"
    error = failing("exits_3", command="exit 3")
    report.check(f"{what}: a job that exits 3 is DONE (DRMAA's default), so ruffus raises nothing",
                 error is None, str(error)[-3000:])

    what = "non-zero exit, nonzero_exit=failed"
    session.exit()
    session.initialize("nonzero_exit=failed")
    error = failing("exits_3_failed", command="exit 3")
    report.check(f"{what}: the job is FAILED, pipeline_run raises ruffus's RethrownJobError (JobFailed)",
                 isinstance(error, RethrownJobError) and "JobFailed" in str(error), str(error)[-3000:])

    what = "refused options"
    error = failing("refused", job_other_options="-frobnicate 1")
    report.check(f"{what}: pipeline_run raises ruffus's RethrownJobError (DeniedByDrmException)",
                 isinstance(error, RethrownJobError) and "DeniedByDrm" in str(error), str(error)[-3000:])
    report.check(f"{what}: the error names the refused option", "-frobnicate" in str(error), str(error)[-3000:])

    session.exit()
    # pipeline_run leaves its multiprocessing.Manager server processes to the garbage collector;
    # they are ruffus's, not jobs: collected, then ended here before the check for leftover jobs.
    gc.collect()
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(10)
    end_leftovers(report, "the pipelines")
    finish(report, work, options.keep)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"<{e.strerror}>"


if __name__ == "__main__":
    main()
