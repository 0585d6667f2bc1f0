// Which DRM system the C binding's session uses: LocalDRM (the default) or Slurm, chosen per
// drmaa_init by the contact option `backend=` or, without it, by $DRMAA_BACKEND.

import DRMAACore
import LocalDRM
import SlurmDRM
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The DRM systems libdrmaa.so can drive, chosen when a session starts.
final class ChosenSystem: DRMSystem {
    enum Kind: String { case local, slurm }

    let local: LocalDRM
    let slurm = SlurmDRM()
    /// The system of the latest `drmaa_init` (the environment's choice before any).
    private let current = Mutex<Kind?>(nil)

    init(local: LocalDRM) { self.local = local }

    /// `backend=` from the contact, else $DRMAA_BACKEND, else local.
    static func kind(_ options: [(name: String, value: String)]) throws(DRMAAError) -> Kind {
        let named = options.last(where: { $0.name == "backend" })?.value
            ?? getenv("DRMAA_BACKEND").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        guard let named else { return .local }
        guard let kind = Kind(rawValue: named.lowercased()) else {
            throw DRMAAError(.invalidContactString, "backend '\(named)' is unknown: this library drives 'local' (LocalDRM, the default) and 'slurm'"
                             + (options.contains(where: { $0.name == "backend" }) ? "" : " ($DRMAA_BACKEND)"))
        }
        return kind
    }

    private var shown: any DRMSystem {
        let kind = current.withLock { $0 } ?? ((try? Self.kind([])) ?? .local)
        return kind == .slurm ? slurm : local
    }

    var drmsInfo: String { shown.drmsInfo }
    var drmaaImplementation: String { local.drmaaImplementation }

    private func choose(_ options: [(name: String, value: String)]) throws(DRMAAError) -> (any DRMSystem, [(name: String, value: String)]) {
        let kind = try Self.kind(options)
        current.withLock { $0 = kind }
        let rest = options.filter { $0.name != "backend" }
        return (kind == .slurm ? slurm : local, rest)
    }

    func makeBackend(options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        let (system, rest) = try choose(options)
        return try system.makeBackend(options: rest, jobs: jobs)
    }

    func makeBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> any Backend {
        let (system, rest) = try choose(options)
        return try system.makeBackend(sessionKey: sessionKey, options: rest, jobs: jobs)
    }

    func reattachBackend(sessionKey: String, options: [(name: String, value: String)], jobs: JobTable) throws(DRMAAError) -> (any Backend)? {
        let (system, rest) = try choose(options)
        return try system.reattachBackend(sessionKey: sessionKey, options: rest, jobs: jobs)
    }
}
