// Tutorial example 1.1: each session has a contact; exit, then re-attach with it.
import DRMAACore
import LocalDRM

// The durable mode: jobs run under the user's LocalDRM daemon and outlive this program, as on a cluster.
let session = Session(system: LocalDRM(mode: .durable))
try session.initialize()
print("A session was started successfully")
let response = session.contact
print("session contact returns: \(response)")
try session.exit()
print("Exited from session")

try session.initialize(contact: response)
print("Session was restarted successfullly")
try session.exit()
