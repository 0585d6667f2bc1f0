import DRMAACore
import Glibc
import LocalDRM
import Testing
@testable import SlurmDRM

/// True when `make test-slurm` runs the tests (DRMAA_SLURM_TESTS=1) and a Slurm controller
/// answers here (it starts one with Scripts/slurm-up.sh); the other test targets skip them.
let slurmAnswers: Bool = {
    guard getenv("DRMAA_SLURM_TESTS").map({ String(cString: $0) }) == "1" else { return false }
    guard let sinfo = Command.find("sinfo"), let result = try? Command.run(sinfo, ["-h", "-o", "%T"], timeout: 10) else { return false }
    return result.exitStatus == 0 && !result.outputText.isEmpty
}()

/// A scratch directory for job output, removed by the test.
func scratchDirectory() throws -> String {
    var template = Array("/tmp/drmaa-slurm-test-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw DRMAAError(.internalError, "mkdtemp failed") }
    return String(cString: made)
}

func removeTree(_ path: String) {
    if let rm = Command.find("rm") { _ = try? Command.run(rm, ["-rf", "--", path], timeout: 30) }
}

func readFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count <= 0 { break }
        bytes += buffer[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

@Suite("Slurm: jobs on a real single-node cluster", .serialized, .timeLimit(.minutes(5)),
       .enabled(if: slurmAnswers, "run by make test-slurm, with DRMAA_SLURM_TESTS=1 and a Slurm controller that answers (Scripts/slurm-up.sh starts one)"))
struct SlurmClusterTests {
    let f: ClusterFixture
    var session: Session { f.session }
    var directory: String { f.directory }

    init() throws { f = try ClusterFixture() }

    func template(_ command: String, _ arguments: [String] = [], bulk: Bool = false) -> JobTemplate {
        f.template(command, arguments, bulk: bulk)
    }

    @Test("drmaa_get_DRM_system names Slurm and its version")
    func systemName() {
        defer { f.close() }
        #expect(session.drmsInfo.hasPrefix("Slurm 2"))
    }

    @Test("a job's exit status and a signal come back exactly; the argv reaches the job byte for byte")
    func exitStatusAndArgv() throws {
        defer { f.close() }
        var plain = template("/bin/sh", ["-c", "printf '%s|' \"$@\"; exit 3", "sh", "a b", "it's", "$HOME", "*", ""])
        plain.outputPath = ":\(directory)/argv.out"
        let id = try session.runJob(plain)
        #expect(Int(id) != nil)
        let info = try session.wait(id, timeout: .seconds(120))
        #expect(info.hasExited && info.exitStatus == 3)
        #expect(readFile("\(directory)/argv.out") == "a b|it's|$HOME|*||")
        let killed = try session.runJob(template("/bin/sh", ["-c", "kill -KILL $$"]))
        let killedInfo = try session.wait(killed, timeout: .seconds(120))
        #expect(killedInfo.hasSignal && killedInfo.terminatedSignal == "SIGKILL")
    }

    @Test("a bulk job is one sbatch --array; task ids are <job>_<index>; $drmaa_incr_ph$ names each task's output")
    func bulk() throws {
        defer { f.close() }
        let ids = try session.runBulkJobs(template("/bin/sh", ["-c", "echo task $SLURM_ARRAY_TASK_ID"], bulk: true), beginIndex: 1, endIndex: 5, step: 2)
        let bulk = try #require(ids.first?.split(separator: "_").first)
        #expect(ids == ["\(bulk)_1", "\(bulk)_3", "\(bulk)_5"])
        try session.synchronize(ids, timeout: .seconds(120), dispose: false)
        for (index, id) in zip([1, 3, 5], ids) {
            #expect(try session.wait(id, timeout: .noWait).exitStatus == 0)
            #expect(readFile("\(directory)/out.\(index)") == "task \(index)\n")
        }
    }

    @Test("hold and release; terminate of a running job; a held job shows USER_ON_HOLD")
    func control() throws {
        defer { f.close() }
        var held = template("/bin/true")
        held.jobSubmissionState = .hold
        let id = try session.runJob(held)
        #expect(try session.jobStatus(id) == .userOnHold)
        try session.control(id, .release)
        #expect(try session.wait(id, timeout: .seconds(120)).exitStatus == 0)
        let long = try session.runJob(template("/bin/sleep", ["300"]))
        for _ in 0..<400 where try session.jobStatus(long) != .running { usleep(50_000) }
        #expect(try session.jobStatus(long) == .running)
        try session.control(long, .terminate)
        let info = try session.wait(long, timeout: .seconds(120))
        #expect(info.wasAborted || info.hasSignal)
    }

    @Test("a native specification Slurm refuses is DENIED_BY_DRM with sbatch's own message; any sbatch option is accepted")
    func nativeSpecification() throws {
        defer { f.close() }
        var refused = template("/bin/true")
        refused.nativeSpecification = "--partition=no-such-partition"
        expectError(.deniedByDRM, containing: "invalid partition") { () throws(DRMAAError) in _ = try session.runJob(refused) }
        var accepted = template("/bin/sh", ["-c", "echo $SLURM_CPUS_PER_TASK"])
        accepted.nativeSpecification = "-c 2 --comment='drmaa:other'"
        accepted.outputPath = ":\(directory)/cpus.out"
        let id = try session.runJob(accepted)
        _ = try session.wait(id, timeout: .seconds(120))
        #expect(readFile("\(directory)/cpus.out") == "2\n")
    }

    func expectError(_ code: ErrorCode, containing text: String, _ body: () throws(DRMAAError) -> Void,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do throws(DRMAAError) {
            try body()
            Issue.record("expected \(code)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, sourceLocation: sourceLocation)
            #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
        }
    }
}
