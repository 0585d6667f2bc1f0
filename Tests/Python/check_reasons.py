"""drmaa-python sees why a job did not start or how it was ended: LocalDRM's drmaa_abort_reason and
drmaa_kill_reason usage entries arrive in JobInfo.resourceUsage. Also the drop-in points a pipeline
meets first: a directory as output path (Snakemake's --drmaa-log-dir), a scheduler profile chosen
in the contact string, and a reason longer than drmaa-python's 1,024-byte buffer that still
decodes. Run with DRMAA_LIBRARY_PATH set to our libdrmaa.so and HOME set to a scratch directory."""
import os
import shutil
import sys
import tempfile

import drmaa


def main():
    failures = []
    checks = 0

    def check(ok, message):
        nonlocal checks
        checks += 1
        if not ok:
            failures.append(message)

    scratch = tempfile.mkdtemp(prefix="drmaa-reasons-")
    session = drmaa.Session()
    session.initialize("emulate=sge")

    def template(*args, output=":/dev/null"):
        jt = session.createJobTemplate()
        jt.remoteCommand = args[0]
        jt.args = list(args[1:])
        jt.outputPath = output
        jt.joinFiles = True
        return jt

    def wait(job):
        return session.wait(job, drmaa.Session.TIMEOUT_WAIT_FOREVER)

    # A job that cannot start: the reason is in resourceUsage.
    jt = template("/bin/cat")
    jt.inputPath = ":" + scratch
    info = wait(session.runJob(jt))
    reason = info.resourceUsage.get("drmaa_abort_reason", "")
    check(info.wasAborted, f"a directory as input: wasAborted={info.wasAborted}")
    check(f"'{scratch}' is a directory" in reason, f"drmaa_abort_reason names the directory: {reason!r}")

    # A reason longer than drmaa-python's buffer is shortened between characters, and decodes.
    deep = scratch
    for _ in range(6):
        deep = os.path.join(deep, "é" * 100)
    os.makedirs(deep)
    jt.inputPath = ":" + deep
    info = wait(session.runJob(jt))
    reason = info.resourceUsage.get("drmaa_abort_reason", "")
    check(reason.endswith("...") and len(("drmaa_abort_reason=" + reason).encode()) <= 1023,
          f"a long reason is shortened to 1,023 bytes: {len(reason.encode())} bytes, ends {reason[-10:]!r}")

    # TERMINATE of a running job: both reasons.
    job = session.runJob(template("/bin/sleep", "30"))
    session.control(job, drmaa.JobControlAction.TERMINATE)
    info = wait(job)
    check(info.resourceUsage.get("drmaa_abort_reason") == "terminated through drmaa_control",
          f"drmaa_abort_reason of a terminated job: {info.resourceUsage.get('drmaa_abort_reason')!r}")
    check(info.resourceUsage.get("drmaa_kill_reason") == "terminated through drmaa_control: SIGTERM",
          f"drmaa_kill_reason of a terminated job: {info.resourceUsage.get('drmaa_kill_reason')!r}")

    # A signal LocalDRM did not send.
    info = wait(session.runJob(template("/bin/sh", "-c", "kill -TERM $$")))
    kill = info.resourceUsage.get("drmaa_kill_reason", "")
    check(info.hasSignal and "which LocalDRM did not send" in kill, f"drmaa_kill_reason of an outside signal: {kill!r}")

    # A job that ends on its own has neither entry.
    info = wait(session.runJob(template("/bin/true")))
    check("drmaa_kill_reason" not in info.resourceUsage and "drmaa_abort_reason" not in info.resourceUsage,
          f"a job that ended on its own has no reason: {sorted(info.resourceUsage)}")

    # A directory as output path, and the Grid Engine profile's variables.
    logs = os.path.join(scratch, "logs")
    os.makedirs(logs)
    jt = template("/bin/sh", "-c", "echo $JOB_ID $SGE_TASK_ID $NSLOTS", output=":" + logs)
    jt.jobName = "rule"
    job = session.runJob(jt)
    info = wait(job)
    path = os.path.join(logs, f"rule.o{job}")
    text = open(path).read() if os.path.exists(path) else None
    check(info.hasExited and info.exitStatus == 0, f"the job with a log directory: exited={info.hasExited} status={info.exitStatus}")
    check(text == f"{job} undefined 1\n", f"{path} holds {text!r}")

    session.exit()
    shutil.rmtree(scratch, ignore_errors=True)
    for failure in failures:
        print("FAIL", failure)
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
