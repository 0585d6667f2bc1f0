#!/usr/bin/env python3
"""Runs the ten Swift ports of the drmaa-python tutorial and checks that each prints what the
Python original prints on Grid Engine (job ids, contact strings and system names aside).

Each expected line below is a regular expression that must match the whole output line.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ID = r"\d+"
IDS15 = r"\[" + ", ".join([rf"'{ID}\.{i}'" for i in range(1, 30, 2)]) + r"\]"
STATUS = ("job is queued and active|job is running|job finished normally")

EXPECTED = {
    "Example1": ["A session was started successfully"],
    "Example1_1": [
        "A session was started successfully",
        r"session contact returns: session=\S+",
        "Exited from session",
        "Session was restarted successfullly",
    ],
    "Example2": ["Creating job template", f"Your job has been submitted with ID {ID}", "Cleaning up"],
    "Example2_1": ["Creating job template", f"Your jobs have been submitted with IDs {IDS15}", "Cleaning up"],
    "Example3": [
        "Creating job template",
        f"Your job has been submitted with ID ({ID})",
        r"Job: \1 finished with status True",
        "Cleaning up",
    ],
    "Example3_1": ["Creating job template", f"Your jobs have been submitted with IDs {IDS15}", "Cleaning up"],
    "Example3_2": ["Creating job template", f"Your jobs have been submitted with IDs {IDS15}"]
    + sum(([rf"Collecting job {ID}\.{i}", rf"Job: {ID}\.{i} finished with status True"] for i in range(1, 30, 2)), [])
    + ["Cleaning up"],
    "Example4": ["Creating job template", f"Your job has been submitted with ID {ID}", "Cleaning up"],
    "Example5": ["Creating job template", f"Your job has been submitted with ID {ID}"]
    + sum(([f"Checking {i} of 10 times", STATUS] for i in range(10)), [])
    + ["Cleaning up"],
    "Example6": [
        "A DRMAA object was created",
        r"Supported contact strings: session=\S+",
        r"Supported DRM systems: .+",
        r"Supported DRMAA implementations: .+",
        r"Version 1\.0",
        "Exiting",
    ],
}


def check_lines(expected, output):
    """None if every output line matches its pattern, else what is wrong."""
    lines = output.splitlines()
    if len(lines) != len(expected):
        return f"{len(lines)} lines, expected {len(expected)}"
    groups = {}
    for number, (line, pattern) in enumerate(zip(lines, expected), 1):
        for key, value in groups.items():
            pattern = pattern.replace(key, re.escape(value))
        match = re.fullmatch(pattern, line)
        if not match:
            return f"line {number}: {line!r} does not match {pattern!r}"
        if match.groups():
            groups[r"\1"] = match.group(1)
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True, help="the build's bin directory")
    args = parser.parse_args()
    examples_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Examples")
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="drmaa-examples-") as home:
        env = dict(os.environ, HOME=home, EXAMPLE5_INTERVAL="0.5")
        for name in EXPECTED:
            result = subprocess.run([os.path.join(args.bin, name)], cwd=examples_dir, env=env,
                                    capture_output=True, text=True, timeout=300)
            problem = f"exit status {result.returncode}: {result.stderr.strip()}" if result.returncode else check_lines(EXPECTED[name], result.stdout)
            if problem:
                failed += 1
                print(f"FAIL {name}: {problem}\n--- output ---\n{result.stdout}--------------")
            else:
                passed += 1
                print(f"ok   {name}")
        # Jobs left running by Example2/2_1 (by design: exit does not end jobs) finish within seconds.
        subprocess.run(["sleep", "4"])
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
