import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

/// Grid Engine's and Slurm's options in real jobs: what each does to the process that runs.
@Suite("LocalDRM native specification dialects: effects on jobs", .timeLimit(.minutes(2)))
struct NativeDialectJobTests {
    @Test("-N names the job: its default output file is <name>.o<id>")
    func jobName() throws {
        let f = try Fixture()
        var template = f.template("/bin/echo", ["hello"], output: nil)
        template.nativeSpecification = "-N myjob"
        let id = try f.session.runJob(template)
        #expect(try f.session.wait(id).exitStatus == 0)
        #expect(f.read("myjob.o\(id)") == "hello\n")
        var named = f.template("/bin/echo", ["explicit"], output: nil)
        named.nativeSpecification = "-J ignored --partition=p"
        named.jobName = "explicit"
        let other = try f.session.runJob(named)
        _ = try f.session.wait(other)
        #expect(f.read("explicit.o\(other)") == "explicit\n")
    }

    @Test("-wd and --chdir set the working directory, -cwd the submitter's; drmaa_wd wins over them")
    func workingDirectory() throws {
        let f = try Fixture()
        try FileManager.default.createDirectory(atPath: f.path("sub"), withIntermediateDirectories: true)
        for specification in ["-wd \(f.path("sub"))", "--chdir='\(f.path("sub"))'", "-cwd"] {
            var template = f.template("/bin/pwd")
            template.nativeSpecification = specification
            _ = try f.session.wait(try f.session.runJob(template))
            let expected = specification == "-cwd" ? FileManager.default.currentDirectoryPath : f.path("sub")
            #expect(f.read("out") == expected + "\n", "\(specification)")
            try FileManager.default.removeItem(atPath: f.path("out"))
        }
        var explicit = f.template("/bin/pwd")
        explicit.nativeSpecification = "-wd /"
        explicit.workingDirectory = "$drmaa_hd_ph$"
        _ = try f.session.wait(try f.session.runJob(explicit))
        #expect(f.read("out") == f.home + "\n")
    }

    @Test("-v A=b,C adds variables (C with the submitter's value); drmaa_v_env wins over them")
    func variables() throws {
        let f = try Fixture()
        var template = f.shell("echo \"$GREETING|$HOME|$SHARED\"")
        template.nativeSpecification = "-V -v GREETING='hello world',HOME,SHARED=native"
        template.jobEnvironment = ["SHARED": "template"]
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(f.read("out") == "hello world|\(ProcessInfo.processInfo.environment["HOME"] ?? "")|template\n")
    }

    @Test("specifications that differ only in their bytes (é as one scalar or two) each give their own bytes to the job")
    func canonicallyEquivalentSpecifications() throws {
        let f = try Fixture()
        var hexes: [String] = []
        for value in ["caf\u{E9}", "cafe\u{301}"] {
            var template = f.shell("printf %s \"$WORD\" | od -An -tx1 | tr -d ' \\n'")
            template.nativeSpecification = "-v WORD=\(value)"
            _ = try f.session.wait(try f.session.runJob(template))
            hexes.append(f.read("out"))
            try FileManager.default.removeItem(atPath: f.path("out"))
        }
        #expect(hexes == ["636166c3a9", "63616665cc81"])
    }

    @Test("a NUL byte in a native option's value is refused at runJob (DENIED_BY_DRM, naming the option), not cut later")
    func nulByteRefusedAtSubmission() throws {
        let f = try Fixture()
        for (specification, option) in [("-N 'a\0b'", "-N"), ("-v 'A\0B=c'", "-v")] {
            var template = f.template("/bin/true")
            template.nativeSpecification = specification
            let error = expectDRMAAError(.deniedByDRM) { try f.session.runJob(template) }
            #expect(error?.message.contains("the value of \(option) contains a NUL byte") == true, "\(error?.message ?? "")")
        }
        #expect(throws: DRMAAError.self) { try f.session.wait(Session.jobIDsSessionAny, timeout: .noWait) }  // no job was recorded
    }

    @Test("--export=NONE: the job gets no variable of the submitter, only drmaa_v_env's and LocalDRM's; --export=names: those")
    func exportNone() throws {
        let f = try Fixture()
        var template = f.template("/usr/bin/env")
        template.nativeSpecification = "--export=NONE"
        template.jobEnvironment = ["MINE": "1"]
        let id = try f.session.runJob(template)
        _ = try f.session.wait(id)
        // What the submitter has (PATH, HOME, …) is not passed on; LocalDRM's own variables are.
        let submitter = Set(ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" })
        var entries = Set(f.read("out").split(separator: "\n").map(String.init))
        #expect(entries.isSuperset(of: ["MINE=1", "DRMAA_JOB_ID=\(id)"]))
        #expect(entries.isDisjoint(with: submitter), "\(entries.intersection(submitter))")
        try FileManager.default.removeItem(atPath: f.path("out"))

        var some = f.template("/usr/bin/env")
        some.nativeSpecification = "--export=HOME,EXTRA=x"
        let other = try f.session.runJob(some)
        _ = try f.session.wait(other)
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        entries = Set(f.read("out").split(separator: "\n").map(String.init))
        #expect(entries.isSuperset(of: ["HOME=\(home)", "EXTRA=x", "DRMAA_JOB_ID=\(other)"]))
        #expect(entries.intersection(submitter) == ["HOME=\(home)"])
    }

    @Test("-l h_rt and --time kill the job as drmaa_wct_hlimit does; the attribute wins over them",
          arguments: [("-l h_rt=0:1:0", nil as Int?, 60.0), ("--time=2", nil, 120), ("-l h_rt=100", 30, 30)])
    func wallclock(specification: String, attribute: Int?, seconds: Double) throws {
        let f = try Fixture(clock: ManualClock())
        var template = f.template("/bin/sleep", ["30"])
        template.nativeSpecification = specification
        template.hardWallclockTimeLimit = attribute
        let id = try f.session.runJob(template)
        f.clock!.advance(by: seconds - 0.1)
        #expect(try f.session.jobStatus(id) == .running)
        f.clock!.advance(by: 0.1)
        let info = try f.session.wait(id)
        #expect(info.hasSignal && info.terminatedSignal == "SIGKILL" && !info.wasAborted)
    }

    /// Runs `ulimit -v` (KiB) in jobs with `specification`, once they run (LocalDRM reports a job
    /// running only after its limits are set), and returns what each printed.
    private func virtualMemoryLimits(_ f: Fixture, _ specification: String, tasks: Int? = nil) throws -> [String] {
        var template = f.shell("while [ ! -e go ]; do sleep 0.01; done; ulimit -v")
        template.nativeSpecification = specification
        let ids: [String]
        if let tasks {
            template.outputPath = ":$drmaa_hd_ph$/out.$drmaa_incr_ph$"
            ids = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: tasks, step: 1)
        } else {
            ids = [try f.session.runJob(template)]
        }
        for id in ids { #expect(awaitState(f.session, id, .running)) }
        #expect(FileManager.default.createFile(atPath: f.path("go"), contents: nil))
        try f.session.synchronize(ids)
        for id in ids { #expect(try f.session.wait(id).exitStatus == 0) }
        try FileManager.default.removeItem(atPath: f.path("go"))
        return tasks.map { (1...$0).map { f.read("out.\($0)") } } ?? [f.read("out")]
    }

    @Test("-l h_vmem is enforced: the job's address-space limit, per slot (× the slots of -pe), also in bulk tasks")
    func virtualMemory() throws {
        let f = try Fixture(slots: 4)
        #expect(try virtualMemoryLimits(f, "-l h_vmem=64M") == ["65536\n"])
        try FileManager.default.removeItem(atPath: f.path("out"))
        #expect(try virtualMemoryLimits(f, "-pe smp 2 -l h_vmem=64M,s_vmem=32M") == ["65536\n"])
        try FileManager.default.removeItem(atPath: f.path("out"))
        #expect(try virtualMemoryLimits(f, "-l h_vmem=1G", tasks: 3) == Array(repeating: "1048576\n", count: 3))
    }

    @Test("a job over its h_vmem cannot allocate more")
    func virtualMemoryEnforced() throws {
        let f = try Fixture()
        // dd allocates its block size at once: 256 MiB does not fit in 64 MiB. It starts once
        // the job runs, so after the limit is set.
        var template = f.shell("while [ ! -e go ]; do sleep 0.01; done; exec dd if=/dev/zero of=/dev/null bs=256M count=1")
        template.nativeSpecification = "-l h_vmem=64M"
        let id = try f.session.runJob(template)
        #expect(awaitState(f.session, id, .running))
        #expect(FileManager.default.createFile(atPath: f.path("go"), contents: nil))
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus != 0)
        #expect(f.read("err").contains("memory"), "\(f.read("err"))")
    }

    @Test("-pe smp 2 and --cpus-per-task=2 take two slots")
    func parallelEnvironment() throws {
        for specification in ["-pe smp 2", "--cpus-per-task=2", "-pe mpi 2-64"] {
            let f = try Fixture(slots: 2)
            let wide = try f.session.runJob(f.sleeper(native: specification))
            let next = try f.session.runJob(f.sleeper())
            #expect(try f.session.jobStatus(wide) == .running)
            #expect(try f.session.jobStatus(next) == .queuedActive, "\(specification)")
            try f.session.control(wide, .terminate)
            #expect(awaitState(f.session, next, .running))
        }
        let f = try Fixture(slots: 2)
        let error = #expect(throws: DRMAAError.self) { try f.session.runJob(f.sleeper(native: "-pe smp 3")) }
        #expect(error?.code == .deniedByDRM && error?.message.contains("more than this session's 2") == true)
    }

    @Test("-p orders the queue as --priority does")
    func priorityOrder() throws {
        let f = try Fixture(slots: 1)
        let blocker = try f.session.runJob(f.template("/bin/sleep", ["30"]))
        var ids: [String] = []
        for (name, specification) in [("a", "-q all.q"), ("b", "-p 10"), ("c", "-p -5"), ("d", "--priority=10 --partition=p"), ("e", nil)] {
            var template = f.shell("echo \(name) >> order")
            template.nativeSpecification = specification
            ids.append(try f.session.runJob(template))
        }
        try f.session.control(blocker, .terminate)
        try f.session.synchronize(ids + [blocker], dispose: true)
        #expect(f.read("order") == "b\nd\na\ne\nc\n")
    }

    @Test("-o with Grid Engine's $JOB_NAME and $JOB_ID, --output with Slurm's %j (standard error joined), -h holds")
    func streamsAndHold() throws {
        let f = try Fixture()
        var ge = f.shell("echo out; echo err >&2")
        ge.outputPath = nil
        ge.errorPath = nil
        ge.nativeSpecification = "-N named -o '$JOB_NAME.$JOB_ID.log' -e /dev/null"
        let first = try f.session.runJob(ge)
        _ = try f.session.wait(first)
        #expect(f.read("named.\(first).log") == "out\n")

        var slurm = ge
        slurm.nativeSpecification = "--output=slurm-%j.out --partition=p"
        let second = try f.session.runJob(slurm)
        _ = try f.session.wait(second)
        #expect(f.read("slurm-\(second).out") == "out\nerr\n")

        var held = f.sleeper(native: "-h")
        let third = try f.session.runJob(held)
        #expect(try f.session.jobStatus(third) == .userOnHold)
        held.jobSubmissionState = .active
        let fourth = try f.session.runJob(held)
        #expect(try f.session.jobStatus(fourth) == .running)
    }

    @Test("a refused option fails runJob with DENIED_BY_DRM naming it, recording no job; the caller's template is unchanged")
    func refusal() throws {
        let f = try Fixture()
        var template = f.template("/bin/true")
        template.nativeSpecification = "-l h_vmem=1G -hold_jid 3"
        let error = #expect(throws: DRMAAError.self) { try f.session.runJob(template) }
        #expect(error?.code == .deniedByDRM && error?.message.contains("-hold_jid 3") == true)
        template.nativeSpecification = "-N native -l h_rt=60"
        let before = template
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(template == before && template.jobName == nil)
    }
}
