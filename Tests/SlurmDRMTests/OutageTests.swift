import DRMAACore
import Glibc
import LocalDRM
import Synchronization
import Testing
@testable import SlurmDRM

/// Where Scripts/slurm-up.sh keeps slurmctld's pid file.
let slurmControllerPidFile = (getenv("SLURM_BASE").map { String(cString: $0) } ?? "/tmp/swift-drmaa-slurm") + "/run/slurmctld.pid"

/// The outage test stops the controller, so it runs alone: make test-slurm runs it after the
/// others, with DRMAA_SLURM_OUTAGE_TESTS=1, as root, on the controller Scripts/slurm-up.sh started.
let outageTestRuns: Bool = slurmAnswers && getuid() == 0
    && getenv("DRMAA_SLURM_OUTAGE_TESTS").map { String(cString: $0) } == "1" && readFile(slurmControllerPidFile) != nil

@Suite("Slurm: the controller stopped and restarted during a wait", .serialized, .timeLimit(.minutes(5)),
       .enabled(if: outageTestRuns, "run alone by make test-slurm (DRMAA_SLURM_OUTAGE_TESTS=1, as root, on the Slurm of Scripts/slurm-up.sh): it stops slurmctld"))
struct SlurmOutageTests {
    @Test("slurmctld down: job_ps is DRM_COMMUNICATION_FAILURE and a wait goes on; slurmctld back: the wait ends with the job's exit status")
    func controllerRestart() throws {
        let f = try ClusterFixture()
        defer { f.close() }
        let id = try f.session.runJob(f.template("/bin/sh", ["-c", "sleep 6; exit 5"]))
        #expect(try f.eventually { try f.session.jobStatus(id) == .running })
        let waited = Mutex<Result<JobInfo, DRMAAError>?>(nil)
        let session = f.session
        #expect(startBackgroundThread {
            let result = Result { () throws(DRMAAError) in try session.wait(id, timeout: .seconds(240)) }
            waited.withLock { $0 = result }
        })
        let pid = try #require(readFile(slurmControllerPidFile).flatMap { pid_t($0.filter(\.isNumber)) })
        #expect(pid > 1 && kill(pid, SIGTERM) == 0)
        #expect(f.eventually(30) { kill(pid, 0) != 0 }, "slurmctld \(pid) did not stop")
        var outage: DRMAAError?
        #expect(f.eventually(10) {
            do throws(DRMAAError) { _ = try f.session.jobStatus(id); return false } catch { outage = error; return true }
        })
        #expect(outage?.code == .drmCommunicationFailure, "\(String(describing: outage))")
        usleep(1_000_000)
        #expect(waited.withLock { $0 } == nil, "the wait must go on while the controller is down")
        // Back, with its saved state (no -c): the job's end reaches it from slurmd.
        let slurmctld = try #require(Command.find("slurmctld") ?? (access("/usr/sbin/slurmctld", X_OK) == 0 ? "/usr/sbin/slurmctld" : nil))
        #expect(try Command.run(slurmctld, [], timeout: 60).exitStatus == 0)
        #expect(f.eventually(60) { slurm("sinfo", ["-h"]) != nil }, "slurmctld did not come back")
        #expect(f.eventually(180) { waited.withLock { $0 } != nil }, "the wait did not end after the controller came back")
        let info = try #require(try waited.withLock { $0 }?.get())
        #expect(info.hasExited && info.exitStatus == 5)
    }
}
