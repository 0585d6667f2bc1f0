// Tutorial example 3: submit a job and wait for it to finish.
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

let info = try session.wait(jobID, timeout: .forever)
print("Job: \(info.jobID) finished with status \(info.hasExited ? "True" : "False")")

print("Cleaning up")
session.deleteJobTemplate(template)
try session.exit()
