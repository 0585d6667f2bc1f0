// Tutorial example 1.1: each session has a contact; exit, then re-attach with it.
import DRMAACore
import LocalDRM

let session = Session()
try session.initialize()
print("A session was started successfully")
let response = session.contact
print("session contact returns: \(response)")
try session.exit()
print("Exited from session")

try session.initialize(contact: response)
print("Session was restarted successfullly")
try session.exit()
