#!/usr/bin/env python3
"""A bulk job through drmaa-python on swift-drmaa's libdrmaa.so: four tasks, run two at a time,
each writing its own output file in $HOME; every task is waited for and its outcome printed.

    make lib venv
    DRMAA_LIBRARY_PATH=out/lib/libdrmaa.so out/venv/bin/python Examples/Python/bulk_tasks.py
"""
import drmaa


def main():
    # slots=2: LocalDRM runs at most two jobs at once; the others wait in its queue.
    with drmaa.Session("slots=2") as session:
        template = session.createJobTemplate()
        template.remoteCommand = "/bin/sh"
        # Odd tasks fail with status 1, so that the outcomes differ.
        template.args = ["-c", 'echo "task $DRMAA_TASK_ID, job id $DRMAA_JOB_ID"; exit $((DRMAA_TASK_ID % 2))']
        # One file per task: $drmaa_hd_ph$/tasks.out.$drmaa_incr_ph$
        template.outputPath = ":%s/tasks.out.%s" % (drmaa.JobTemplate.HOME_DIRECTORY, drmaa.JobTemplate.PARAMETRIC_INDEX)
        template.joinFiles = True

        tasks = session.runBulkJobs(template, 1, 4, 1)
        print("submitted tasks %s" % ", ".join(tasks))
        for task in tasks:
            info = session.wait(task, drmaa.Session.TIMEOUT_WAIT_FOREVER)
            print("task %s: exited %s with status %d" % (info.jobId, info.hasExited, info.exitStatus))
        session.deleteJobTemplate(template)


if __name__ == "__main__":
    main()
