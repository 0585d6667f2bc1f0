// Tutorial example 5: submit a job and check its status ten times, five seconds apart.
import DRMAACore
import Foundation
import LocalDRM

// The durable mode: jobs run under the user's LocalDRM daemon and outlive this program, as on a cluster.
let session = Session(system: LocalDRM(mode: .durable))
try session.initialize()
print("Creating job template")
var template = try session.createJobTemplate()
template.remoteCommand = FileManager.default.currentDirectoryPath + "/sleeper.sh"
template.args = ["42", "Simon says:"]
template.joinFiles = true

let jobID = try session.runJob(template)
print("Your job has been submitted with ID \(jobID)")

let decodeStatus: [JobState: String] = [
    .undetermined: "process status cannot be determined",
    .queuedActive: "job is queued and active",
    .systemOnHold: "job is queued and in system hold",
    .userOnHold: "job is queued and in user hold",
    .userSystemOnHold: "job is queued and in user and system hold",
    .running: "job is running",
    .systemSuspended: "job is system suspended",
    .userSuspended: "job is user suspended",
    .done: "job finished normally",
    .failed: "job finished, but failed",
]

let pause = Double(ProcessInfo.processInfo.environment["EXAMPLE5_INTERVAL"] ?? "") ?? 5
for ix in 0..<10 {
    print("Checking \(ix) of 10 times")
    print(decodeStatus[try session.jobStatus(jobID)]!)
    Thread.sleep(forTimeInterval: pause)
}

print("Cleaning up")
session.deleteJobTemplate(template)
try session.exit()
