// Tutorial example 1: start a session and exit it.
import DRMAACore
import LocalDRM

// The durable mode: jobs run under the user's LocalDRM daemon and outlive this program, as on a cluster.
let session = Session(system: LocalDRM(mode: .durable))
try session.initialize()
print("A session was started successfully")
try session.exit()
