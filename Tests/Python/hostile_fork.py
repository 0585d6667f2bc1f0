"""drmaa-python in a host that forks: a multiprocessing worker (fork start method) uses the session
the parent opened. The worker gets a session of its own; the parent's jobs are undisturbed, no job
id is handed out twice, and nothing spins. Run with DRMAA_LIBRARY_PATH set to our libdrmaa.so."""
import multiprocessing
import resource
import sys

import drmaa


def template(session, *args):
    jt = session.createJobTemplate()
    jt.remoteCommand = "/bin/sh"
    jt.args = ["-c", *args]
    jt.outputPath = ":/dev/null"
    jt.joinFiles = True
    return jt


def worker(queue):
    # The session object is the parent's, inherited through fork().
    session = drmaa.Session()
    jt = template(session, "sleep 0.5; exit 6")
    job = session.runJob(jt)
    info = session.wait(job, drmaa.Session.TIMEOUT_WAIT_FOREVER)
    queue.put((job, info.exitStatus, info.hasExited))


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main():
    failures = []
    checks = 0

    def check(ok, message):
        nonlocal checks
        checks += 1
        if not ok:
            failures.append(message)

    session = drmaa.Session()
    session.initialize()
    parent_job = session.runJob(template(session, "sleep 2; exit 3"))
    before = cpu_seconds()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=worker, args=(queue,)) for _ in range(3)]
    for process in workers:
        process.start()
    results = [queue.get(timeout=60) for _ in workers]
    for process in workers:
        process.join(60)
        check(process.exitcode == 0, f"a worker exited with {process.exitcode}")
    spent = cpu_seconds() - before
    for job, status, exited in results:
        check(exited and status == 6, f"worker job {job}: exited={exited} status={status}, expected 6")
    ids = [job for job, _, _ in results] + [parent_job]
    check(len(set(ids)) == len(ids), f"job ids were handed out twice: {ids}")
    info = session.wait(parent_job, drmaa.Session.TIMEOUT_WAIT_FOREVER)
    check(info.hasExited and info.exitStatus == 3,
          f"the parent's job was disturbed: exited={info.hasExited} status={info.exitStatus} aborted={info.wasAborted}")
    check(spent <= 1.0, f"the parent spun while its workers lived ({spent:.2f} s of CPU)")
    session.exit()
    for failure in failures:
        print("FAIL", failure)
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
