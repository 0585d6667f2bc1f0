#!/usr/bin/env python3
"""Checks LocalDRM's durable mode (libdrmaa.so's default: a per-user daemon `drmaad` runs every job
under a `drmaa-shepherd`, keeps sessions and outcomes in a spool) through drmaa-python, the way its
users see it: jobs outlive the client that submitted them, another process re-attaches by contact
string, one daemon and one slot pool per state directory, other users are refused, and nothing is
left running afterwards.

Run as  out/venv/bin/python Tests/Durable/check_durable.py --lib out/lib/libdrmaa.so

Every scenario has a fresh state directory (a temporary directory, mode 0700), its own HOME and
DRMAA_LOCAL_IDLE_EXIT=2, so that its daemon leaves two seconds after its last client and job. The
clients are separate processes (small scripts written to the scenario's directory, each with a time
limit), so that killing one is a real kill. Each scenario is one check (`ok <name>` or
`FAIL <name>: <detail>`), followed by a check that it left no process behind (its daemon, its
shepherds, its jobs: found by the state directory in their command line or by a marker of the
scenario in their command line or environment); leftovers are killed. Known library bugs are still
reported as FAIL, with a note (KNOWN below). Exit status 1 if any check failed.

The checker makes itself a child subreaper, so that the daemons (which the library starts detached)
and their shepherds become its children when their parents leave; it reaps them.
"""
import argparse
import collections
import ctypes
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
# The seed's tutorial scripts, relative to the repository root (CI puts shared/ beside the clone).
SEED_EXAMPLES = os.path.normpath(os.path.join(REPO, "..", "shared", "seed", "examples"))
SLEEPER_OUTPUT = "Hello world, the answer is 42\nSimon says: Bye world!\n"
NOBODY = 65534
PR_SET_CHILD_SUBREAPER = 36
MARKER_VARIABLE = "DURCHECK_MARKER"

# Failures that are the library's, known and reported (still FAIL): check name -> note.
# Known library bugs: still FAIL, with a note. None at present.
KNOWN = {}

# The client processes' side: one script, one subcommand per role; each prints JSON lines.
CLIENT = r'''
import json
import os
import sys
import time

import drmaa

MARKER = os.environ["DURCHECK_MARKER"]


def say(**fields):
    print(json.dumps(fields), flush=True)


def error(e):
    return "%s: %s" % (type(e).__name__, e)


def template(session, script, *args, output=":/dev/null"):
    # The marker is the script's $0: it is in the job's command line (and in its environment).
    jt = session.createJobTemplate()
    jt.remoteCommand = "/bin/sh"
    jt.args = ["-c", script, MARKER] + list(args)
    jt.outputPath = output
    jt.joinFiles = True
    return jt


def outcome(info):
    return {"id": info.jobId, "exited": bool(info.hasExited), "status": int(info.exitStatus),
            "signaled": bool(info.hasSignal), "signal": str(info.terminatedSignal),
            "aborted": bool(info.wasAborted)}


def wait_for_file(path, seconds=60):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit("the barrier file %s never appeared" % path)
        time.sleep(0.01)


def collect(session, ids, timeout):
    """synchronize (no dispose), then each id's wait, then a second wait on each (must be refused)."""
    result = {}
    try:
        session.synchronize(ids, int(timeout), False)
        result["synchronize"] = "ok"
    except Exception as e:
        result["synchronize"] = error(e)
    first, second = {}, {}
    for job in ids:
        try:
            first[job] = outcome(session.wait(job, 10))
        except Exception as e:
            first[job] = error(e)
    for job in ids:
        try:
            second[job] = "returned " + json.dumps(outcome(session.wait(job, drmaa.Session.TIMEOUT_NO_WAIT)))
        except Exception as e:
            second[job] = error(e)
    result["first"], result["second"] = first, second
    return result


def main(role, *args):
    session = drmaa.Session()
    if role == "bulk":  # n outdir: submit, say the ids, then wait to be killed
        n, outdir = int(args[0]), args[1]
        session.initialize()
        jt = template(session, 'sleep 1; echo "$DRMAA_TASK_ID"',
                      output=":" + os.path.join(outdir, "task." + drmaa.JobTemplate.PARAMETRIC_INDEX))
        ids = session.runBulkJobs(jt, 1, n, 1)
        say(contact=session.contact, ids=ids)
        time.sleep(120)
    elif role == "collect":  # contact ids-json timeout
        session.initialize(args[0])
        result = collect(session, json.loads(args[1]), float(args[2]))
        session.exit()
        say(**result)
    elif role == "probe":  # contact ids-json: what a later re-attached session sees
        session.initialize(args[0])
        seen = {}
        for job in json.loads(args[1]):
            try:
                seen[job] = "returned " + json.dumps(outcome(session.wait(job, drmaa.Session.TIMEOUT_NO_WAIT)))
            except Exception as e:
                seen[job] = error(e)
        session.exit()
        say(seen=seen)
    elif role == "galaxy-a":
        session.initialize()
        job = session.runJob(template(session, "sleep 30"))
        say(contact=session.contact, id=job)
        session.exit()
    elif role == "galaxy-b":  # id: another session, no session= key
        job = args[0]
        session.initialize()
        states = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                state = session.jobStatus(job)
            except Exception as e:
                state = error(e)
            if not states or states[-1] != state:
                states.append(state)
            if state == drmaa.JobState.RUNNING:
                break
            time.sleep(0.05)
        try:
            session.control(job, drmaa.JobControlAction.TERMINATE)
            control = "ok"
        except Exception as e:
            control = error(e)
        try:
            unknown = "returned " + str(session.jobStatus("999999"))
        except Exception as e:
            unknown = error(e)
        session.exit()
        say(states=states, control=control, unknown=unknown)
    elif role == "reattach-wait":  # contact id
        session.initialize(args[0])
        try:
            result = outcome(session.wait(args[1], 30))
        except Exception as e:
            result = error(e)
        session.exit()
        say(outcome=result)
    elif role == "timed":  # n dir barrier: jobs that record when they start and end
        n, directory, barrier = int(args[0]), args[1], args[2]
        session.initialize()
        say(ready=True, contact=session.contact)
        wait_for_file(barrier)
        ids = []
        for i in range(n):
            place = os.path.join(directory, str(i))
            os.makedirs(place)
            ids.append(session.runJob(template(
                session, 'date +%s.%N > "$1/start"; sleep 1; date +%s.%N > "$1/end"', place)))
        result = collect(session, ids, 60)
        session.exit()
        say(ids=ids, **result)
    elif role == "true":  # barrier: wait, then init, one /bin/true job, wait, exit
        say(waiting=True)
        wait_for_file(args[0])
        session.initialize()
        jt = session.createJobTemplate()
        jt.remoteCommand = "/bin/true"
        jt.args = [MARKER]
        jt.outputPath = ":/dev/null"
        jt.joinFiles = True
        job = session.runJob(jt)
        result = outcome(session.wait(job, 60))
        session.exit()
        say(id=job, outcome=result)
    elif role == "trio":  # dir: three jobs in one slot, each appends one line to its own file
        directory = args[0]
        session.initialize()
        ids = []
        for i in range(1, 4):
            place = os.path.join(directory, "job%d" % i)
            os.makedirs(place)
            ids.append(session.runJob(template(
                session, 'echo $$ >> "$1/started"; sleep 3; echo done >> "$1/out"', place)))
        say(contact=session.contact, ids=ids)
        session.exit()
    elif role == "hold":  # a client that keeps the daemon up until its standard input ends
        session.initialize()
        say(ready=True, contact=session.contact)
        sys.stdin.read()
        session.exit()
    elif role == "intruder":  # outfile: another uid tries to use this state directory
        try:
            session.initialize()
        except Exception as e:
            say(init_error=error(e), init_class=type(e).__name__, init_message=str(e))
            return
        result = {"init": "ok", "contact": session.contact}
        try:
            job = session.runJob(template(session, 'id -u > "$1"', args[0]))
            result["job"] = job
            result["outcome"] = outcome(session.wait(job, 20))
        except Exception as e:
            result["run_error"] = error(e)
        session.exit()
        say(**result)
    else:
        raise SystemExit("unknown role " + role)


if __name__ == "__main__":
    main(*sys.argv[1:])
'''

# A raw connection to the daemon's socket: connect, then read until the daemon closes it.
RAW_CONNECT = r'''
import errno, json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect": errno.errorcode.get(e.errno, str(e.errno)), "message": str(e)}), flush=True)
    sys.exit(0)
received, eof = b"", False
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            eof = True
            break
        received += chunk
except OSError as e:
    print(json.dumps({"connect": "ok", "received": received.decode("latin-1"), "eof": False, "error": str(e)}), flush=True)
    sys.exit(0)
print(json.dumps({"connect": "ok", "received": received.decode("latin-1"), "eof": eof}), flush=True)
'''


# ---------------------------------------------------------------------------------------------
# Processes

# Pids of running Popen children: never reaped behind subprocess's back (it would see status 0).
ACTIVE = set()
ALL_SCENARIOS = []


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    checker = os.getpid()

    def stop(signum, _frame):
        if os.getpid() != checker:
            os._exit(128 + signum)
        for scenario in ALL_SCENARIOS:
            for proc in scenario.leftovers():
                kill(proc["pid"])
        print(f"{signal.Signals(signum).name}: killed every process of the scenarios", flush=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def processes():
    """Every process: pid, ppid, state, uid, cmdline (blank-joined), environ (bytes; empty if unreadable)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            environ = b""
        fields = stat[stat.rindex(b")") + 2:].split()
        found.append({"pid": pid, "state": fields[0].decode(), "ppid": int(fields[1]), "uid": uid,
                      "cmdline": cmdline, "environ": environ})
    return found


def reap_orphans():
    """Collects exited children that are not a running Popen (orphans re-parented to us)."""
    me = os.getpid()
    for proc in processes():
        if proc["ppid"] == me and proc["state"] == "Z" and proc["pid"] not in ACTIVE:
            try:
                os.waitpid(proc["pid"], os.WNOHANG)
            except ChildProcessError:
                pass


def as_object(line):
    """A line of a client's output: its JSON object, else {"unparsed": line}."""
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"unparsed": line}


class Helper:
    """A client process: stdout is read as JSON lines, stderr goes to a file in the scenario's directory."""

    def __init__(self, scenario, label, argv, env, cwd, stdin=subprocess.DEVNULL):
        self.label = label
        self.err_path = os.path.join(scenario.root, label + ".err")
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=stdin, env=env, cwd=cwd)
        ACTIVE.add(self.proc.pid)
        self.buffer = b""
        self.returncode = None

    def read_line(self, timeout):
        """The next line of its stdout (without the newline), None at EOF or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def read_json(self, timeout):
        line = self.read_line(timeout)
        if line is None:
            return None
        return as_object(line)

    def finish(self, timeout):
        """Waits for it (SIGKILL after `timeout` s); returns (status, JSON objects of the rest of stdout)."""
        try:
            rest, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rest, _ = self.proc.communicate()
            self.returncode = f"killed after {timeout} s"
        else:
            self.returncode = self.proc.returncode
        ACTIVE.discard(self.proc.pid)
        lines = []
        for line in (self.buffer + rest).decode(errors="replace").splitlines():
            lines.append(as_object(line))
        self.buffer = b""
        return self.returncode, lines

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)

    def stderr_tail(self, lines=4):
        try:
            with open(self.err_path, errors="replace") as f:
                text = f.read().strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def describe(self):
        tail = self.stderr_tail()
        return f"{self.label} exited {self.returncode}" + (f" (stderr: {tail})" if tail else "")


# ---------------------------------------------------------------------------------------------
# Scenarios

class Scenario:
    """One scenario's directory (state, home, work), environment, marker and problems."""

    def __init__(self, name, args):
        self.name = name
        self.args = args
        self.root = tempfile.mkdtemp(prefix="durcheck-")  # mode 0700
        self.state = os.path.join(self.root, "state")
        self.home = os.path.join(self.root, "home")
        self.work = os.path.join(self.root, "work")
        os.mkdir(self.state, 0o700)
        os.mkdir(self.home, 0o700)
        os.mkdir(self.work, 0o700)
        self.marker = "durcheck-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") + "-" + uuid.uuid4().hex[:8]
        self.client = os.path.join(self.root, "client.py")
        with open(self.client, "w") as f:
            f.write(CLIENT)
        os.chmod(self.client, 0o644)
        self.problems = []
        self.notes = []
        # Further (name, ok, detail) checks a scenario makes besides its own.
        self.extra_checks = []
        self.helpers = 0
        ALL_SCENARIOS.append(self)

    def env(self, **extra):
        # Nothing of the caller's DRMAA settings: each scenario sets its own.
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRMAA_") and k != "XDG_STATE_HOME"}
        env.update(HOME=self.home, DRMAA_LOCAL_STATE_DIR=self.state, DRMAA_LOCAL_IDLE_EXIT="2",
                   DRMAA_LIBRARY_PATH=self.args.lib, PYTHONUNBUFFERED="1")
        env[MARKER_VARIABLE] = self.marker
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def start(self, role, *args, env=None, user=None, stdin=subprocess.DEVNULL, label=None, python=None):
        self.helpers += 1
        argv = [python or self.args.python, self.client, role, *map(str, args)]
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] + argv
        return Helper(self, label or f"{self.helpers:02d}-{role}", argv, env or self.env(), self.root, stdin=stdin)

    def run(self, role, *args, timeout=60, env=None, user=None, label=None, python=None):
        """Runs a client to its end: (helper, its last JSON object or None)."""
        helper = self.start(role, *args, env=env, user=user, label=label, python=python)
        status, lines = helper.finish(timeout)
        result = lines[-1] if lines else None
        if status != 0:
            self.fail(helper.describe())
        return helper, result

    def expect(self, ok, problem):
        if not ok:
            self.problems.append(problem)
        return ok

    def fail(self, problem):
        self.problems.append(problem)

    def note(self, text):
        self.notes.append(text)

    def daemon_log(self):
        try:
            with open(os.path.join(self.state, "daemon.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def leftovers(self):
        """Live processes of this scenario: its state directory in their command line (drmaad,
        drmaa-shepherd), or its marker in their command line or environment (jobs, clients)."""
        me = os.getpid()
        marker_entry = f"{MARKER_VARIABLE}={self.marker}".encode()
        return [p for p in processes()
                if p["pid"] != me and p["state"] != "Z"
                and (self.state in p["cmdline"] or self.marker in p["cmdline"]
                     or marker_entry in p["environ"].split(b"\0"))]


def poll(condition, timeout, interval=0.1):
    """Calls `condition` until it is truthy or `timeout` s passed; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        reap_orphans()
        time.sleep(interval)


def is_invalid_job(text):
    return isinstance(text, str) and text.startswith("InvalidJobException")


def check_outcomes(scenario, result, ids, what):
    """Each id's first wait: exited with status 0; the second: InvalidJobException."""
    if not scenario.expect(isinstance(result, dict) and "first" in result, f"{what}: no result"):
        return
    if result.get("synchronize") != "ok":
        scenario.fail(f"{what}: synchronize: {result.get('synchronize')}")
    for job in ids:
        first = result["first"].get(job)
        scenario.expect(isinstance(first, dict) and first["exited"] and first["status"] == 0,
                        f"{what}: wait({job}) gave {first}, expected exit 0")
        second = result["second"].get(job)
        scenario.expect(is_invalid_job(second), f"{what}: a second wait({job}) gave {second}, expected InvalidJobException")


def scenario_example(s):
    script = os.path.join(SEED_EXAMPLES, "example2.1.py")
    if not os.path.isfile(script) or not os.path.isfile(os.path.join(SEED_EXAMPLES, "sleeper.sh")):
        return f"no {os.path.relpath(script, REPO)} (with sleeper.sh) beside the repository"
    helper = Helper(s, "example2.1", [s.args.python, script], s.env(), SEED_EXAMPLES)
    status, lines = helper.finish(60)
    text = "\n".join(line.get("unparsed", json.dumps(line)) for line in lines)  # the script prints plain text
    if not s.expect(status == 0, helper.describe()):
        return None
    ids = re.findall(r"'(\d+\.\d+)'", text)
    if not s.expect(len(ids) == 15, f"example2.1 printed {len(ids)} job ids, expected 15: {text!r}"):
        return None
    expected = {f"sleeper.sh.o{job}" for job in ids}

    def complete():
        done = set()
        for name in expected:
            try:
                with open(os.path.join(s.home, name)) as f:
                    if f.read() == SLEEPER_OUTPUT:
                        done.add(name)
            except OSError:
                pass
        return done == expected

    started = time.monotonic()
    poll(complete, 120, 0.5)
    s.note(f"the 15 tasks' files were complete {time.monotonic() - started:.1f} s after the script exited")
    present = sorted(n for n in os.listdir(s.home) if n.startswith("sleeper.sh.o"))
    for name in sorted(expected):
        path = os.path.join(s.home, name)
        try:
            with open(path) as f:
                content = f.read()
        except OSError:
            s.fail(f"{name} missing after 120 s")
            continue
        s.expect(content == SLEEPER_OUTPUT, f"{name} holds {content!r} after 120 s")
    s.expect(set(present) == expected, f"unexpected output files: {sorted(set(present) - expected)}")
    return None


def scenario_killed_client(s):
    out = os.path.join(s.work, "out")
    os.mkdir(out)
    client = s.start("bulk", 8, out)
    first = client.read_json(30)
    client.kill9()  # SIGKILL right after submitting
    client.finish(10)
    done_at_kill = sum(1 for name in os.listdir(out) if os.path.getsize(os.path.join(out, name)) > 0)
    if not s.expect(isinstance(first, dict) and "contact" in first, f"the client printed {first} ({client.describe()})"):
        return None
    contact, ids = first["contact"], first["ids"]
    s.expect(len(ids) == 8, f"{len(ids)} task ids: {ids}")
    s.note(f"contact {contact}, tasks {ids[0]}..{ids[-1]}; {done_at_kill} of 8 had written their output when the client was killed")
    # A new process re-attaches while the tasks still run.
    _, result = s.run("collect", contact, json.dumps(ids), 60, timeout=90, label="reattach")
    check_outcomes(s, result, ids, "re-attached")
    for i in range(1, 9):
        path = os.path.join(out, f"task.{i}")
        try:
            with open(path) as f:
                content = f.read()
        except OSError:
            s.fail(f"task {i} wrote no output file: it did not run")
            continue
        s.expect(content == f"{i}\n", f"task {i}'s output is {content!r}, expected '{i}\\n'")
    _, seen = s.run("probe", contact, json.dumps(ids), timeout=30, label="third")
    if s.expect(isinstance(seen, dict) and "seen" in seen, f"the third process printed {seen}"):
        for job, text in seen["seen"].items():
            s.expect(is_invalid_job(text), f"third process: wait({job}) gave {text}, expected InvalidJobException")
    return None


def scenario_galaxy(s):
    _, a = s.run("galaxy-a", timeout=30, label="A")
    if not s.expect(isinstance(a, dict) and "id" in a, f"process A printed {a}"):
        return None
    job = a["id"]
    _, b = s.run("galaxy-b", job, timeout=40, label="B")
    if s.expect(isinstance(b, dict) and "states" in b, f"process B printed {b}"):
        s.note(f"B saw job {job} as {' -> '.join(b['states'])}; jobStatus('999999'): {b['unknown']}")
        s.expect(b["states"] and b["states"][-1] == "running", f"B: jobStatus({job}) went {b['states']}, never running")
        s.expect(b["control"] == "ok", f"B: control({job}, TERMINATE): {b['control']}")
        s.expect(is_invalid_job(b["unknown"]), f"B: jobStatus('999999') gave {b['unknown']}, expected InvalidJobException")
    _, c = s.run("reattach-wait", a["contact"], job, timeout=45, label="C")
    if s.expect(isinstance(c, dict) and "outcome" in c, f"process C printed {c}"):
        o = c["outcome"]
        s.note(f"C's wait({job}): {o}")
        s.expect(isinstance(o, dict) and (o["aborted"] or o["signaled"]),
                 f"C: wait({job}) gave {o}, expected wasAborted or a signal")
    return None


def scenario_slots(s):
    barrier = os.path.join(s.root, "go")
    directories = [os.path.join(s.work, "client1"), os.path.join(s.work, "client2")]
    for d in directories:
        os.mkdir(d)
    # The first client starts the daemon, with DRMAA_LOCAL_SLOTS=2; the second says 8, which is not the pool's.
    one = s.start("timed", 4, directories[0], barrier, env=s.env(DRMAA_LOCAL_SLOTS=2), label="client1")
    ready = one.read_json(30)
    two = s.start("timed", 4, directories[1], barrier, env=s.env(DRMAA_LOCAL_SLOTS=8), label="client2")
    ready2 = two.read_json(30)
    s.expect(ready and ready2, f"the clients did not start: {ready}, {ready2} ({one.describe()}; {two.describe()})")
    with open(barrier, "w"):
        pass
    intervals = []
    for helper, directory in zip((one, two), directories):
        status, lines = helper.finish(90)
        result = lines[-1] if lines else None
        if not s.expect(status == 0 and isinstance(result, dict), helper.describe()):
            continue
        check_outcomes(s, result, result["ids"], helper.label)
        for i in range(4):
            try:
                with open(os.path.join(directory, str(i), "start")) as f:
                    start = float(f.read())
                with open(os.path.join(directory, str(i), "end")) as f:
                    end = float(f.read())
            except (OSError, ValueError) as e:
                s.fail(f"{helper.label} job {i}: no start/end time ({e})")
                continue
            intervals.append((start, end))
    s.expect(len(intervals) == 8, f"{len(intervals)} of 8 jobs recorded their times")
    # The most jobs running at one instant, each job's end taken 50 ms early (slack of the clock reads).
    events = sorted([(start, 1) for start, _ in intervals] + [(end - 0.05, -1) for _, end in intervals])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    if intervals:
        s.note(f"at most {most} of the 8 jobs ran at once; they took {max(e for _, e in intervals) - min(b for b, _ in intervals):.2f} s")
    s.expect(most <= 2, f"{most} jobs ran at once with 2 slots: {sorted(intervals)}")
    return None


def scenario_many_clients(s):
    barrier = os.path.join(s.root, "go")
    pattern = re.compile("drmaad.*" + re.escape(s.state))
    samples, holders, stop = [], [], threading.Event()

    def sample():
        while not stop.is_set():
            samples.append([p["cmdline"] for p in processes() if p["state"] != "Z" and pattern.search(p["cmdline"])])
            holders.append(lock_holders(os.path.join(s.state, "daemon.lock")))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        clients = [s.start("true", barrier, label=f"client{i:02d}") for i in range(20)]
        waiting = [c.read_json(60) for c in clients]
        s.expect(all(w and w.get("waiting") for w in waiting), f"{sum(1 for w in waiting if w)} of 20 clients reached the barrier")
        with open(barrier, "w"):
            pass
        succeeded = 0
        for c in clients:
            status, lines = c.finish(90)
            result = lines[-1] if lines else None
            o = result.get("outcome") if isinstance(result, dict) else None
            if s.expect(status == 0 and isinstance(o, dict) and o["exited"] and o["status"] == 0,
                        f"{c.describe()}: {result}"):
                succeeded += 1
        s.note(f"{succeeded} of 20 clients ran their job")
        # After the daemon has left (2 s idle), so that the log is complete.
        poll(lambda: "leaving" in s.daemon_log(), 10)
    finally:
        stop.set()
        sampler.join()
    log = s.daemon_log()
    serving = [line for line in log.splitlines() if "serving" in line]
    already = [line for line in log.splitlines() if "a daemon runs already" in line]
    most = max((len(found) for found in samples), default=0)
    most_holders = max((len(found) for found in holders), default=0)
    starters = max((sum("--detach" in c for c in found) for found in samples), default=0)
    s.note(f"daemon.log: {len(serving)} 'serving' line(s), {len(already)} 'a daemon runs already'; "
           f"{len(samples)} samples: at most {most_holders} holder(s) of daemon.lock "
           f"(one in {sum(1 for found in holders if found)} samples), at most {most} process(es) "
           f"matching pgrep -f 'drmaad.*<state dir>' (of which at most {starters} 'drmaad --detach' starters)")
    s.expect(len(serving) == 1, f"daemon.log has {len(serving)} 'serving' lines: {serving}")
    s.expect(most_holders <= 1, f"{most_holders} processes held daemon.lock at once: {max(holders, key=len)}")
    if most > 1:
        worst = next(found for found in samples if len(found) == most)
        kinds = collections.Counter(worst)
        s.extra_checks.append((PGREP_CHECK, False, f"{most} drmaad processes at one sample: "
                               + ", ".join(f"{n} x '{cmdline}'" for cmdline, n in kinds.most_common())))
    else:
        s.extra_checks.append((PGREP_CHECK, True, ""))
    return None


def lock_holders(path):
    """Pids holding a lock (flock or POSIX, not waiting for one) on the file at `path`, from /proc/locks."""
    try:
        info = os.stat(path)
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    where = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    # "1: FLOCK  ADVISORY  WRITE 4242 00:2e:1234 0 EOF"; a waiter's line has "->" after the number.
    return [int(fields[4]) for fields in (line.split() for line in lines)
            if len(fields) > 5 and fields[1] != "->" and fields[5] == where]


def nobody_kit(s):
    """What nobody needs to run a client, where nobody can read it: the checkout may lie below a directory
    nobody cannot pass (/root). Returns (the base interpreter, a directory with drmaa-python and the library)."""
    kit = os.path.join(s.root, "nobody-kit")
    os.mkdir(kit, 0o755)
    package = subprocess.run([s.args.python, "-c", "import drmaa, os; print(os.path.dirname(drmaa.__file__))"],
                             check=True, capture_output=True, text=True, env=s.env()).stdout.strip()
    shutil.copytree(package, os.path.join(kit, "drmaa"), ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.realpath(s.args.lib), os.path.join(kit, "libdrmaa.so"))
    for directory, dirs, files in os.walk(kit):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o644)
    # The system's interpreter (drmaa-python is pure Python): the venv's base may lie below /root too.
    python = next((p for p in ("/usr/bin/python3", "/bin/python3") if os.access(p, os.X_OK)), os.path.realpath(s.args.python))
    return python, kit


def scenario_other_uid(s):
    if os.geteuid() != 0:
        return "not running as root (needs to run a client as nobody)"
    # nobody can pass through the scenario's directory (0711) but not into the state directory (0700).
    os.chmod(s.root, 0o711)
    nobody_home = os.path.join(s.root, "nobody-home")
    os.mkdir(nobody_home, 0o700)
    os.chown(nobody_home, NOBODY, NOBODY)
    socket_path = os.path.join(s.state, "daemon.sock")
    holder = s.start("hold", stdin=subprocess.PIPE, label="root-client")
    ready = holder.read_json(30)
    try:
        if not s.expect(isinstance(ready, dict) and ready.get("ready"), f"root's client did not start: {holder.describe()}"):
            return None
        outfile = os.path.join(nobody_home, "ran-as")
        python, kit = nobody_kit(s)
        nobody_env = s.env(HOME=nobody_home, PYTHONPATH=kit, DRMAA_LIBRARY_PATH=os.path.join(kit, "libdrmaa.so"))
        _, intruder = s.run("intruder", outfile, env=nobody_env, user=NOBODY, timeout=40, label="nobody-client",
                            python=python)
        if s.expect(isinstance(intruder, dict), f"nobody's client printed {intruder}"):
            if "init_error" in intruder:
                s.note(f"drmaa_init as nobody raised {intruder['init_class']}: {intruder['init_message']}")
            else:
                s.fail(f"drmaa_init as nobody succeeded on root's state directory: {intruder}")
        s.expect(not os.path.exists(outfile), f"a job of nobody's ran (it wrote {outfile})")
        others = [p for p in s.leftovers() if p["uid"] == NOBODY]
        s.expect(not others, f"processes of nobody's with the marker: {[p['cmdline'] for p in others]}")
        # A raw connect as nobody: the state directory (0700) stops it.
        raw = os.path.join(s.root, "raw_connect.py")
        with open(raw, "w") as f:
            f.write(RAW_CONNECT)
        os.chmod(raw, 0o644)
        connect = [python, raw, socket_path]
        as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        helper = Helper(s, "nobody-raw-connect", as_nobody + connect, nobody_env, s.root)
        status, lines = helper.finish(20)
        answer = lines[-1] if lines else None
        s.note(f"a raw connect() as nobody to the socket in the 0700 state directory: {answer}")
        s.expect(isinstance(answer, dict) and answer.get("connect") in ("EACCES", "EPERM"),
                 f"raw connect as nobody: {answer} ({helper.describe()}), expected EACCES or EPERM")
        # The daemon's own check (SO_PEERCRED): open the way for a moment (directory 0711, socket 0666).
        modes = (os.stat(s.state).st_mode & 0o7777, os.stat(socket_path).st_mode & 0o7777)
        try:
            os.chmod(s.state, 0o711)
            os.chmod(socket_path, 0o666)
            helper = Helper(s, "nobody-peercred", as_nobody + connect, nobody_env, s.root)
            status, lines = helper.finish(20)
        finally:
            os.chmod(s.state, modes[0])
            os.chmod(socket_path, modes[1])
        answer = lines[-1] if lines else None
        refused = [line for line in s.daemon_log().splitlines() if "refused a connection" in line]
        if s.expect(isinstance(answer, dict) and answer.get("connect") == "ok",
                    f"connect as nobody through an opened socket: {answer} ({helper.describe()})"):
            text = answer.get("received", "")
            readable = "".join(ch for ch in text if ch.isprintable())
            s.note(f"through an opened socket: the daemon sent {len(text)} bytes ({readable!r}) and "
                   f"{'closed the connection' if answer.get('eof') else 'did not close it'}; its log: {refused}")
            s.expect(answer.get("eof"), f"the daemon kept nobody's connection open: {answer}")
        s.expect(any(f"uid {NOBODY}" in line for line in refused),
                 f"daemon.log does not say it refused uid {NOBODY}: {refused}")
    finally:
        status, _ = holder.finish(30)  # closes its standard input: it exits
        s.expect(status == 0, holder.describe())
    return None


def daemon_pid(s):
    match = None
    for match in re.finditer(r"serving .*\(pid (\d+)", s.daemon_log()):
        pass
    return int(match.group(1)) if match else None


def scenario_daemon_killed(s):
    _, trio = s.run("trio", s.work, env=s.env(DRMAA_LOCAL_SLOTS=1), timeout=30, label="submitter")
    if not s.expect(isinstance(trio, dict) and "ids" in trio, f"the submitting client printed {trio}"):
        return None
    contact, ids = trio["contact"], trio["ids"]
    started = os.path.join(s.work, "job1", "started")
    if not s.expect(poll(lambda: os.path.exists(started), 15), "the first job never started"):
        return None
    pid = daemon_pid(s)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, TypeError):
        cmdline = ""
    if not s.expect(pid and "drmaad" in cmdline and s.state in cmdline,
                    f"no daemon found: daemon.log's pid {pid}, its command line {cmdline!r}"):
        return None
    os.kill(pid, signal.SIGKILL)
    s.expect(poll(lambda: not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(") ")[1][0] == "Z", 5),
             f"the daemon (pid {pid}) survived SIGKILL")
    reap_orphans()
    s.note(f"killed the daemon (pid {pid}) with SIGKILL while job {ids[0]} ran")
    # A new client re-attaches: it starts a new daemon, which must carry on with the three jobs.
    helper, result = s.run("collect", contact, json.dumps(ids), 40, timeout=60, label="reattach")
    if result is None:
        s.fail(f"the re-attaching client printed nothing ({helper.describe()})")
    else:
        check_outcomes(s, result, ids, "re-attached after the restart")
    # The jobs' own record, once they had time to run (a job that runs twice appends a second line).
    outs = [os.path.join(s.work, f"job{i}", "out") for i in range(1, 4)]
    poll(lambda: all(os.path.exists(out) for out in outs), 15)
    time.sleep(0.5)
    for i in range(1, 4):
        place = os.path.join(s.work, f"job{i}")
        try:
            with open(os.path.join(place, "out")) as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        try:
            with open(os.path.join(place, "started")) as f:
                starts = len(f.read().splitlines())
        except OSError:
            starts = 0
        s.expect(lines == ["done"], f"job {i} ({ids[i - 1]}) wrote {len(lines)} line(s), expected exactly one (it started {starts} time(s))")
    servings = len(re.findall(r"serving", s.daemon_log()))
    s.note(f"daemon.log has {servings} 'serving' line(s)")
    return None


PGREP_CHECK = "20 clients, one daemon: pgrep -f sees at most one drmaad"

SCENARIOS = [
    ("example2.1 after exit", scenario_example),
    ("client killed mid-bulk", scenario_killed_client),
    ("Galaxy pattern", scenario_galaxy),
    ("two clients share the slots", scenario_slots),
    ("20 clients, one daemon", scenario_many_clients),
    ("another uid is refused", scenario_other_uid),
    ("daemon killed with kill -9", scenario_daemon_killed),
]


class Report:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def check(self, name, ok, detail="", notes=()):
        if ok:
            self.passed += 1
            print(f"ok {name}", flush=True)
        else:
            self.failed += 1
            known = KNOWN.get(name)
            print(f"FAIL {name}: {detail}" + (f" [known: {known}]" if known else ""), flush=True)
        for note in notes:
            print(f"    {note}", flush=True)

    def skip(self, name, reason):
        self.skipped += 1
        print(f"SKIPPED {name}: {reason}", flush=True)


def end_leftovers(report, s):
    """No process of the scenario may outlive it by 15 s; any that does is killed (and a FAIL)."""
    left = poll(lambda: not s.leftovers(), 15, 0.2)
    survivors = [] if left else s.leftovers()
    for proc in survivors:
        kill(proc["pid"])
    poll(lambda: not s.leftovers(), 5)
    reap_orphans()
    report.check(f"no leftovers: {s.name}", not survivors,
                 "still running after 15 s, killed: " + "; ".join(f"{p['pid']}: {p['cmdline']}" for p in survivors))
    return not survivors


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lib", required=True, help="libdrmaa.so (drmaad and drmaa-shepherd beside it)")
    parser.add_argument("--python", default=sys.executable, help="the Python with drmaa-python (default: this one)")
    parser.add_argument("--only", action="append", default=[], help="run only the scenarios whose name contains this")
    parser.add_argument("--keep", action="store_true", help="keep every scenario's directory (else only failed ones')")
    args = parser.parse_args()
    args.lib = os.path.abspath(args.lib)
    if not os.path.isfile(args.lib):
        print(f"FAIL setup: no {args.lib}", flush=True)
        return 1
    become_subreaper()
    report = Report()
    started = time.monotonic()
    for name, run in SCENARIOS:
        if args.only and not any(part.lower() in name.lower() for part in args.only):
            continue
        s = Scenario(name, args)
        began = time.monotonic()
        try:
            skipped = run(s)
        except Exception:
            skipped = None
            s.fail("the checker raised: " + traceback.format_exc().strip().replace("\n", " | "))
        if skipped:
            report.skip(name, skipped)
        else:
            s.notes.append(f"({time.monotonic() - began:.1f} s; directory {s.root})")
            report.check(name, not s.problems, "; ".join(s.problems), s.notes)
            for check in s.extra_checks:
                report.check(*check)
        clean = end_leftovers(report, s)
        if (s.problems or not clean) or args.keep:
            print(f"    kept {s.root}", flush=True)
        else:
            shutil.rmtree(s.root, ignore_errors=True)
    print(f"{report.passed} passed, {report.failed} failed" + (f" ({report.skipped} skipped)" if report.skipped else "")
          + f" in {time.monotonic() - started:.0f} s", flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
