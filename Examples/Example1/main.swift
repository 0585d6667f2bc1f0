// Tutorial example 1: start a session and exit it.
import DRMAACore
import LocalDRM

let session = Session()
try session.initialize()
print("A session was started successfully")
try session.exit()
