#!/usr/bin/env python3
"""Runs the seed's drmaa-python tutorial scripts in place (../shared/seed/examples beside the
repository, read-only; we ship no copy) with drmaa-python on top of our libdrmaa.so
($DRMAA_LIBRARY_PATH), and checks that each prints what it prints on Grid Engine (job ids, contact
strings and system names aside), then that the jobs' output files (in the jobs' $HOME, a private
temporary directory per script) hold what sleeper.sh writes. Without the seed's folder it says
SKIPPED for them. Our own examples (Examples/Python) run and are checked in any case.

Each expected line is a regular expression that must match the whole output line; `\\1` in a
later line stands for the first group matched earlier.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import tempfile
import time

# The expected output is the same as for the Swift ports of these scripts: one table serves both.
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "swift_ports_check", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Examples", "check_examples.py"))
_ports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ports)
PORTS_EXPECTED, check_lines = _ports.EXPECTED, _ports.check_lines

# "Example1_1" (the Swift port) is "example1.1.py" (the seed script).
EXPECTED = {"example" + name[len("Example"):].replace("_", ".") + ".py": lines for name, lines in PORTS_EXPECTED.items()}

# How many of each script's jobs run sleeper.sh to completion (example4 terminates its job at once).
# Job ids restart at 1 in every process, so each script gets its own $HOME (as Grid Engine would
# give unique ids, and appends to an existing output file).
COMPLETE_JOBS = {"example2.py": 1, "example2.1.py": 15, "example3.py": 1, "example3.1.py": 15,
                 "example3.2.py": 15, "example5.py": 1}
# A limit of LocalDRM's embedded mode only (--embedded): jobs still *queued* when the submitting
# process ends never start, because the scheduler lives in that process. example2.1 submits 15 tasks
# and exits at once, so only the first <slots> (online CPUs) tasks run there. Reported, not counted.
# In the durable mode (libdrmaa.so's default) every task must run, as on Grid Engine.
PROCESS_EXIT_LIMITED = {
    "example2.1.py": "LocalDRM starts queued jobs from inside the submitting process; "
                     "tasks still queued when the script exits never run (Grid Engine would run all 15)",
}
# Scripts that fail under Python 3 whatever the DRMAA library, because of a bug of their own. We run
# the originals unchanged and do not patch them, so such a script is checked up to the line that
# fails: its output so far must match, and it must fail with exactly this error. Reported, not
# counted; if the script ever stops failing, it is checked in full like the others.
SCRIPT_BUGS = {
    "example6.py": {
        "lines": 4,  # the lines printed before the failing one
        "error": "TypeError: not all arguments converted during string formatting",
        "reason": "the script's print('Version %s' % s.version) is Python 2 code: drmaa-python's Version is "
                  "a namedtuple (two fields), so % takes it as two arguments for one %s; "
                  "print('Version %s' % (s.version,)) would print 'Version 1.0'",
    },
}
SLEEPER_OUTPUT = "Hello world, the answer is 42\nSimon says: Bye world!\n"
# Our own drmaa-python examples, and what they print and leave in $HOME (file name: its text).
OWN_EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Examples", "Python")
OWN_EXPECTED = {
    "bulk_tasks.py": [r"submitted tasks (\d+)\.1, \1\.2, \1\.3, \1\.4"]
    + [rf"task \d+\.{i}: exited True with status {i % 2}" for i in range(1, 5)],
}
OWN_FILES = {
    "bulk_tasks.py": {f"tasks.out.{i}": rf"task {i}, job id \d+\.{i}\n" for i in range(1, 5)},
}
# The seed's scripts, relative to the repository root (CI puts a copy of shared/ beside the clone).
SEED_EXAMPLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "seed", "examples")


def slurm_ids(patterns):
    """The patterns with Slurm's spelling of task ids (`7_3`) for Grid Engine's (`7.3`)."""
    return [p.replace(r"\d+\.", r"\d+_").replace(r"(\d+)\.", r"(\d+)_").replace(r"\1\.", r"\1_") for p in patterns]


def check(name, result):
    """(problem or None, known-bug note or None) for one script's run."""
    if SLURM:
        return check_on_slurm(name, result)
    bug = SCRIPT_BUGS.get(name)
    if bug and result.returncode and result.stderr.strip().endswith(bug["error"]):
        problem = check_lines(EXPECTED[name][:bug["lines"]], result.stdout)
        return (problem, None if problem else f"fails in the script itself ({bug['error']}): {bug['reason']}")
    if result.returncode:
        return (f"exit status {result.returncode}: {result.stderr.strip()}", None)
    return (check_lines(EXPECTED.get(name) or OWN_EXPECTED[name], result.stdout), None)


SLURM = False


def check_on_slurm(name, result):
    bug = SCRIPT_BUGS.get(name)
    expected = slurm_ids(EXPECTED.get(name) or OWN_EXPECTED[name])
    if bug and result.returncode and result.stderr.strip().endswith(bug["error"]):
        problem = check_lines(expected[:bug["lines"]], result.stdout)
        return (problem, None if problem else f"fails in the script itself ({bug['error']}): {bug['reason']}")
    if result.returncode:
        return (f"exit status {result.returncode}: {result.stderr.strip()}", None)
    return (check_lines(expected, result.stdout), None)


def main():
    global SLURM
    parser = argparse.ArgumentParser()
    parser.add_argument("--python", default=sys.executable, help="a Python with drmaa-python installed")
    parser.add_argument("--embedded", action="store_true",
                        help="the library runs in the embedded mode (DRMAA_LOCAL_MODE=embedded): queued jobs end with the script")
    parser.add_argument("--examples", default=SEED_EXAMPLES,
                        help="the directory of the tutorial scripts (default: ../shared/seed/examples)")
    parser.add_argument("--slurm", action="store_true",
                        help="the library drives Slurm (DRMAA_BACKEND=slurm): task ids are <job>_<index>; our "
                             "examples that use LocalDRM's contact options are skipped")
    parser.add_argument("--jobs", type=int, default=1,
                        help="run this many scripts at once (each has its own $HOME; on Slurm they only wait on the cluster)")
    args = parser.parse_args()
    SLURM = args.slurm
    if not os.environ.get("DRMAA_LIBRARY_PATH"):
        sys.exit("set DRMAA_LIBRARY_PATH to libdrmaa.so")
    examples = os.path.abspath(args.examples)
    scripts = [] if args.slurm else [(OWN_EXAMPLES, name) for name in OWN_EXPECTED]
    if args.slurm:
        print("SKIPPED our own examples on Slurm: they use LocalDRM's contact option slots=")
    if os.path.isdir(examples):
        scripts += [(examples, name) for name in EXPECTED]
    else:
        print(f"SKIPPED the seed's drmaa-python tutorial scripts: no folder {os.path.normpath(examples)}")
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="drmaa-py-examples-") as homes:
        def run(script):
            folder, name = script
            home = os.path.join(homes, name)
            os.mkdir(home)
            # The scripts find sleeper.sh in their working directory, the seed's folder, which they
            # only read; the jobs write their output into $HOME, and Python no bytecode.
            env = dict(os.environ, HOME=home, PYTHONDONTWRITEBYTECODE="1")
            return subprocess.run([args.python, os.path.join(folder, name)], cwd=folder, env=env,
                                  capture_output=True, text=True, timeout=300)
        # Reported in the scripts' order, however many run at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            results = list(pool.map(run, scripts))
        for (folder, name), result in zip(scripts, results):
            problem, known = check(name, result)
            if problem:
                failed += 1
                print(f"FAIL {name}: {problem}\n--- output ---\n{result.stdout}--------------")
            elif known:
                print(f"KNOWN {name}: {known}")
            else:
                passed += 1
                print(f"ok   {name}")
        for name, files in ({} if args.slurm else OWN_FILES).items():
            for file, pattern in files.items():
                path = os.path.join(homes, name, file)
                text = open(path).read() if os.path.exists(path) else None
                if text is not None and re.fullmatch(pattern, text):
                    passed += 1
                    print(f"ok   {name} job output {file}")
                else:
                    failed += 1
                    print(f"FAIL {name} job output {file}: {text!r} does not match {pattern!r}")
        seed = [name for _, name in scripts if name in EXPECTED]
        if seed:
            # Jobs left running by example2 / 2.1 (drmaa_exit does not end jobs) finish within seconds.
            time.sleep(5)
        for name in seed:
            files = glob.glob(os.path.join(homes, name, "sleeper.sh.o*"))
            complete = 0
            for path in files:
                with open(path) as f:
                    text = f.read()
                if text == SLEEPER_OUTPUT:
                    complete += 1
                elif not SLEEPER_OUTPUT.startswith(text):
                    failed += 1
                    print(f"FAIL {name} job output {os.path.basename(path)}: {text!r}")
            want = COMPLETE_JOBS.get(name, 0)
            if args.embedded and name in PROCESS_EXIT_LIMITED and 0 < complete < want and complete == len(files):
                print(f"KNOWN {name} job output: {complete} of {want} jobs ran: {PROCESS_EXIT_LIMITED[name]}")
            elif complete == want and len(files) >= want:
                passed += 1
                print(f"ok   {name} job output: {complete} complete sleeper.sh.o* file(s) of {len(files)}")
            else:
                failed += 1
                print(f"FAIL {name} job output: {complete} complete sleeper.sh.o* files of {len(files)}, expected {want}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
