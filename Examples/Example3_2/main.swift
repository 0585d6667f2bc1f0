// Tutorial example 3.2: synchronize without disposing, then collect each job with wait.
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

let jobIDs = try session.runBulkJobs(template, beginIndex: 1, endIndex: 30, step: 2)
print("Your jobs have been submitted with IDs [" + jobIDs.map { "'\($0)'" }.joined(separator: ", ") + "]")

try session.synchronize(jobIDs, timeout: .forever, dispose: false)
for jobID in jobIDs {
    print("Collecting job " + jobID)
    let info = try session.wait(jobID, timeout: .forever)
    print("Job: \(info.jobID) finished with status \(info.hasExited ? "True" : "False")")
}

print("Cleaning up")
session.deleteJobTemplate(template)
try session.exit()
