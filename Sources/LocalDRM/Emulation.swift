/// The cluster scheduler that LocalDRM's jobs are made to look like, so that a pipeline written for
/// that cluster runs unchanged: the variables its jobs read, its default output file names, and the
/// reading of its native-specification options where two schedulers spell an option the same way
/// (`-p` is a priority to Grid Engine and a partition to Slurm).
///
/// Chosen with the contact option `emulate=sge|slurm` or `$DRMAA_LOCAL_EMULATE`; none by default.
public enum Emulation: String, Sendable, Equatable, CaseIterable {
    /// Grid Engine (SGE, Son of Grid Engine, Open Cluster Scheduler, Univa/Altair).
    case sge
    /// Slurm.
    case slurm
}
