import DRMAACore
import Foundation
import Glibc
@testable import LocalDRM
import Testing

/// The environment a job printed with `env -0` into the file `name` of home.
func environment(_ f: Fixture, _ name: String) -> [String: String] {
    var result: [String: String] = [:]
    for entry in f.read(name).split(separator: "\0") {
        guard let equals = entry.firstIndex(of: "=") else { continue }
        result[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
    }
    return result
}

@Suite("LocalDRM scheduler profiles: emulate=sge|slurm, nonzero_exit", .timeLimit(.minutes(2)))
struct ProfileTests {
    /// A job that prints its environment into `name` (NUL-separated).
    func printer(_ f: Fixture, _ name: String = "env") -> JobTemplate {
        f.template("/usr/bin/env", ["-0"], output: ":$drmaa_hd_ph$/\(name)")
    }

    @Test("Grid Engine profile, single job: JOB_ID, JOB_NAME, SGE_TASK_* undefined, NSLOTS, SGE_STD*_PATH, TMPDIR")
    func gridEngineSingleJob() throws {
        let f = try Fixture(contact: "emulate=sge")
        var template = printer(f)
        template.jobName = "align"
        template.nativeSpecification = "--slots=2"
        let id = try f.session.runJob(template)
        #expect(try f.session.wait(id).exitStatus == 0)
        let env = environment(f, "env")
        #expect(env["JOB_ID"] == id && env["JOB_NAME"] == "align" && env["NSLOTS"] == "2")
        for name in ["SGE_TASK_ID", "SGE_TASK_FIRST", "SGE_TASK_LAST", "SGE_TASK_STEPSIZE"] {
            #expect(env[name] == "undefined", "\(name)")
        }
        #expect(env["SGE_STDOUT_PATH"] == f.path("env") && env["SGE_STDERR_PATH"] == f.path("err"))
        #expect(env["SGE_STDIN_PATH"] == "/dev/null")
        #expect(env["DRMAA_JOB_ID"] == id)
        #expect(env["TMPDIR"]?.contains("drmaa-job-\(id)-") == true)
        #expect(env["SLURM_JOB_ID"] == nil)
    }

    @Test("Grid Engine profile, bulk task: JOB_ID is the bulk job's, SGE_TASK_ID/FIRST/LAST/STEPSIZE; output <name>.o<id>.<task>")
    func gridEngineBulkTask() throws {
        let f = try Fixture(contact: "emulate=sge")
        var template = f.template("/usr/bin/env", ["-0"], output: nil)
        template.errorPath = nil
        template.jobName = "bulk"
        template.joinFiles = true
        let ids = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 9, step: 3)
        try f.session.synchronize(ids, dispose: true)
        let bulk = String(ids[0].split(separator: ".")[0])
        let env = environment(f, "bulk.o\(bulk).4")
        #expect(env["JOB_ID"] == bulk && env["SGE_TASK_ID"] == "4")
        #expect(env["SGE_TASK_FIRST"] == "1" && env["SGE_TASK_LAST"] == "7" && env["SGE_TASK_STEPSIZE"] == "3")
        #expect(env["SGE_STDOUT_PATH"] == f.path("bulk.o\(bulk).4") && env["SGE_STDERR_PATH"] == env["SGE_STDOUT_PATH"])
        #expect(env["DRMAA_TASK_ID"] == "4" && env["DRMAA_JOB_ID"] == "\(bulk).4")
    }

    @Test("Slurm profile, single job: SLURM_JOB_ID, SLURM_JOB_NAME, SLURM_CPUS_PER_TASK, SLURM_SUBMIT_DIR; output and errors in slurm-<id>.out")
    func slurmSingleJob() throws {
        let f = try Fixture(contact: "emulate=slurm")
        var template = f.shell("env -0 > env; echo out; echo err >&2")
        template.outputPath = nil
        template.errorPath = nil
        template.jobName = "call"
        template.nativeSpecification = "--slots=3"
        let id = try f.session.runJob(template)
        #expect(try f.session.wait(id).exitStatus == 0)
        let env = environment(f, "env")
        #expect(env["SLURM_JOB_ID"] == id && env["SLURM_JOBID"] == id && env["SLURM_JOB_NAME"] == "call")
        #expect(env["SLURM_CPUS_PER_TASK"] == "3")
        #expect(env["SLURM_SUBMIT_DIR"] == FileManager.default.currentDirectoryPath)
        #expect(env["SLURM_ARRAY_TASK_ID"] == nil && env["SLURM_ARRAY_JOB_ID"] == nil && env["JOB_ID"] == nil)
        #expect(f.read("slurm-\(id).out") == "out\nerr\n")
        #expect(files(in: f.home).filter { $0.hasPrefix("slurm-") } == ["slurm-\(id).out"])
    }

    @Test("Slurm profile, array task: SLURM_ARRAY_JOB_ID/TASK_ID/COUNT/MIN/MAX/STEP; SLURM_JOB_ID a number of its own; slurm-<array>_<task>.out")
    func slurmArrayTask() throws {
        let f = try Fixture(contact: "emulate=slurm")
        var template = f.template("/usr/bin/env", ["-0"], output: nil)
        template.errorPath = nil
        let ids = try f.session.runBulkJobs(template, beginIndex: 2, endIndex: 6, step: 2)
        try f.session.synchronize(ids, dispose: true)
        let bulk = String(ids[0].split(separator: ".")[0])
        var numbers: Set<String> = []
        for index in [2, 4, 6] {
            let env = environment(f, "slurm-\(bulk)_\(index).out")
            #expect(env["SLURM_ARRAY_JOB_ID"] == bulk && env["SLURM_ARRAY_TASK_ID"] == String(index))
            #expect(env["SLURM_ARRAY_TASK_COUNT"] == "3" && env["SLURM_ARRAY_TASK_MIN"] == "2")
            #expect(env["SLURM_ARRAY_TASK_MAX"] == "6" && env["SLURM_ARRAY_TASK_STEP"] == "2")
            let number = try #require(env["SLURM_JOB_ID"])
            #expect(Int(number) != nil && number != bulk && env["SLURM_JOBID"] == number)
            numbers.insert(number)
        }
        #expect(numbers.count == 3)
        let next = try f.session.runJob(f.template("/bin/true"))
        #expect(!numbers.contains(next))
    }

    @Test("without a profile only DRMAA_JOB_ID, DRMAA_TASK_ID and TMPDIR are added; default names are Grid Engine's")
    func noProfile() throws {
        let f = try Fixture()
        var template = printer(f)
        template.outputPath = nil
        template.errorPath = nil
        let id = try f.session.runJob(template)
        _ = try f.session.wait(id)
        let env = environment(f, "env.o\(id)")
        #expect(env["JOB_ID"] == nil && env["SLURM_JOB_ID"] == nil && env["NSLOTS"] == nil)
        #expect(env["DRMAA_JOB_ID"] == id && env["TMPDIR"] != nil)
    }

    @Test("drmaa_v_env wins over the profile's variables")
    func environmentOverrides() throws {
        let f = try Fixture(contact: "emulate=sge")
        var template = printer(f)
        template.jobEnvironment = ["JOB_ID": "mine", "NSLOTS": "16"]
        _ = try f.session.wait(try f.session.runJob(template))
        let env = environment(f, "env")
        #expect(env["JOB_ID"] == "mine" && env["NSLOTS"] == "16")
    }

    @Test("a profile's variables inherited from the submitter (a job that submits jobs) are not passed on; others are")
    func inheritedVariablesDropped() {
        let base = ["PATH=/usr/bin", "JOB_ID=99", "SGE_TASK_ID=5", "NSLOTS=8", "SLURM_JOB_ID=7", "TMPDIR=/scratch/parent", "KEEP=1"]
        let sge = JobEnvironment(base: base, overrides: [], managed: JobVariables.managedNames(.sge))
        #expect(Set(sge.entries([])) == ["PATH=/usr/bin", "SLURM_JOB_ID=7", "KEEP=1"])
        #expect(sge.temporaryBase == "/scratch/parent")
        let slurm = JobEnvironment(base: base, overrides: [("SLURM_JOB_ID", "given")], managed: JobVariables.managedNames(.slurm))
        #expect(Set(slurm.entries([("SLURM_JOB_ID", "3"), ("SLURM_JOB_NAME", "n")])) ==
                ["PATH=/usr/bin", "JOB_ID=99", "SGE_TASK_ID=5", "NSLOTS=8", "KEEP=1", "SLURM_JOB_ID=given", "SLURM_JOB_NAME=n"])
        let plain = JobEnvironment(base: base, overrides: [], managed: JobVariables.managedNames(nil))
        #expect(Set(plain.entries([])) == ["PATH=/usr/bin", "JOB_ID=99", "SGE_TASK_ID=5", "NSLOTS=8", "SLURM_JOB_ID=7", "KEEP=1"])
    }

    @Test("emulate= and nonzero_exit= take only their documented values: INVALID_CONTACT_STRING naming them",
          arguments: ["emulate=pbs", "emulate=", "emulate=SGE", "nonzero_exit=maybe", "nonzero_exit="])
    func invalidContactOptions(_ contact: String) throws {
        let session = Session(system: LocalDRM())
        let error = expectDRMAAError(.invalidContactString) { try session.initialize(contact: contact) }
        #expect(error?.message.contains(contact) == true)
    }

    @Test("$DRMAA_LOCAL_EMULATE and $DRMAA_LOCAL_NONZERO_EXIT: used when the contact and configuration say nothing; invalid → DRMS_INIT_FAILED")
    func environmentSettings() throws {
        func settings(_ variables: [String: String], contact: Bool = false, _ configuration: LocalDRM.Configuration = .init()) throws -> LocalDRM.Settings {
            try LocalDRM.Settings(configuration, categoriesPath: nil, emulationChosen: contact) { variables[$0] }
        }
        #expect(try settings([:]).emulation == nil)
        #expect(try settings([:]).nonzeroExit == .done)
        #expect(try settings(["DRMAA_LOCAL_EMULATE": "slurm"]).emulation == .slurm)
        #expect(try settings(["DRMAA_LOCAL_EMULATE": ""]).emulation == nil)
        #expect(try settings(["DRMAA_LOCAL_EMULATE": "slurm"], .init(emulation: .sge)).emulation == .sge)
        #expect(try settings(["DRMAA_LOCAL_EMULATE": "slurm"], contact: true).emulation == nil)  // emulate=none
        #expect(try settings(["DRMAA_LOCAL_NONZERO_EXIT": "failed"]).nonzeroExit == .failed)
        #expect(try settings(["DRMAA_LOCAL_NONZERO_EXIT": "failed"], .init(nonzeroExit: .done)).nonzeroExit == .done)
        for (name, value) in [("DRMAA_LOCAL_EMULATE", "lsf"), ("DRMAA_LOCAL_NONZERO_EXIT", "yes")] {
            let error = expectDRMAAError(.drmsInitFailed) { try settings([name: value]) }
            #expect(error?.message.contains("\(name)='\(value)'") == true)
        }
    }

    @Test("the contact string keeps emulate= and nonzero_exit=; emulate=none overrides the environment")
    func contactRoundTrip() throws {
        let f = try Fixture(contact: "emulate=none;nonzero_exit=done")
        #expect(f.session.contact.hasSuffix(";emulate=none;nonzero_exit=done"))
    }

    @Test("nonzero_exit=failed: a job that exits non-zero or dies of a signal is FAILED, its status intact; exit 0 stays DONE")
    func nonzeroExitFailed() throws {
        let f = try Fixture(contact: "nonzero_exit=failed")
        let three = try f.session.runJob(f.shell("exit 3"))
        let zero = try f.session.runJob(f.shell("exit 0"))
        let killed = try f.session.runJob(f.shell("kill -TERM $$"))
        try f.session.synchronize([three, zero, killed])
        #expect(try f.session.jobStatus(three) == .failed)
        #expect(try f.session.jobStatus(zero) == .done)
        #expect(try f.session.jobStatus(killed) == .failed)
        let info = try f.session.wait(three)
        #expect(info.hasExited && info.exitStatus == 3 && !info.wasAborted && info.abortReason == nil)
        let signalled = try f.session.wait(killed)
        #expect(signalled.hasSignal && signalled.terminatedSignal == "SIGTERM" && !signalled.wasAborted)
    }

    @Test("by default (nonzero_exit=done) a non-zero exit is DONE, as DRMAA and Grid Engine have it")
    func nonzeroExitDone() throws {
        let f = try Fixture()
        let id = try f.session.runJob(f.shell("exit 3"))
        try f.session.synchronize([id])
        #expect(try f.session.jobStatus(id) == .done)
    }
}
