// The shared helpers (Fixture, makeSession, expectDRMAAError, awaitState, …) live in the
// TestSupport target; re-exported here so that every file of this target sees them without
// importing it.
@_exported import TestSupport
