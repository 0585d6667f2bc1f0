// Tutorial example 2: submit a job (sleeper.sh in the current directory) and leave it running.
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

print("Cleaning up")
session.deleteJobTemplate(template)
try session.exit()
