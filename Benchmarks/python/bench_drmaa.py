#!/usr/bin/env python3
"""drmaa-python against libdrmaa.so ($DRMAA_LIBRARY_PATH): the same work as the Swift benchmark,
through the C binding and ctypes.

1. submit N /bin/true jobs one by one with runJob, then wait for each by id;
2. a bulk job of N tasks with runBulkJobs, then synchronize(SESSION_ALL, dispose=True);
3. M sequential runJob -> wait round trips.

Prints one `name value` line per measurement (seconds) on stdout, for DRMAABench. Exits non-zero
if a job fails. Every path out terminates and reaps whatever the session still has.
"""
import argparse
import sys
import time

import drmaa

TIMEOUT = 60  # seconds for any single wait; a job of /bin/true takes milliseconds


def check(info, what):
    if not info.hasExited or info.exitStatus != 0:
        raise SystemExit("%s: job %s did not succeed (%r)" % (what, info.jobId, info))


def percentile(values, p):
    ordered = sorted(values)
    rank = max(1, -(-int(p * 1000) * len(ordered) // 1000))  # nearest rank, ceil(p*n)
    return ordered[min(len(ordered), rank) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--round-trips", type=int, default=100)
    args = parser.parse_args()
    n, m = args.jobs, args.round_trips

    with drmaa.Session() as session:
        template = session.createJobTemplate()
        try:
            template.remoteCommand = "/bin/true"
            template.args = []
            template.outputPath = ":/dev/null"
            template.errorPath = ":/dev/null"
            check(session.wait(session.runJob(template), TIMEOUT), "warm-up")

            start = time.perf_counter()
            ids = [session.runJob(template) for _ in range(n)]
            submitted = time.perf_counter()
            for job_id in ids:
                check(session.wait(job_id, TIMEOUT), "runJob/wait")
            waited = time.perf_counter()
            print("run_job_submit_s %.6f" % (submitted - start))
            print("run_job_wait_s %.6f" % (waited - submitted))
            print("run_job_total_s %.6f" % (waited - start))

            start = time.perf_counter()
            session.runBulkJobs(template, 1, n, 1)
            session.synchronize([drmaa.Session.JOB_IDS_SESSION_ALL], TIMEOUT * 4, True)
            print("bulk_total_s %.6f" % (time.perf_counter() - start))

            trips = []
            for _ in range(m):
                start = time.perf_counter()
                info = session.wait(session.runJob(template), TIMEOUT)
                trips.append(time.perf_counter() - start)
                check(info, "round trip")
            print("round_trip_p50_s %.6f" % percentile(trips, 0.5))
            print("round_trip_p99_s %.6f" % percentile(trips, 0.99))
        finally:
            # Whatever is left (after a failure) is terminated and reaped before the session ends.
            try:
                session.control(drmaa.Session.JOB_IDS_SESSION_ALL, drmaa.JobControlAction.TERMINATE)
                session.synchronize([drmaa.Session.JOB_IDS_SESSION_ALL], TIMEOUT, True)
            except drmaa.errors.DrmaaException:
                pass
            session.deleteJobTemplate(template)
    return 0


if __name__ == "__main__":
    sys.exit(main())
