// Tutorial example 6: query the system.
import DRMAACore
import LocalDRM

// The durable mode: jobs run under the user's LocalDRM daemon and outlive this program, as on a cluster.
let session = Session(system: LocalDRM(mode: .durable))
try session.initialize()
print("A DRMAA object was created")
print("Supported contact strings: \(session.contact)")
print("Supported DRM systems: \(session.drmsInfo)")
print("Supported DRMAA implementations: \(session.drmaaImplementation)")
print("Version \(session.version)")

print("Exiting")
try session.exit()
