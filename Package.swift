// swift-tools-version:6.0
import PackageDescription

/// The ten programs of the drmaa-python tutorial, ported to Swift.
let examples = [
    "Example1", "Example1_1", "Example2", "Example2_1", "Example3",
    "Example3_1", "Example3_2", "Example4", "Example5", "Example6",
]

let package = Package(
    name: "swift-drmaa",
    products: [
        .library(name: "DRMAACore", targets: ["DRMAACore"]),
        .library(name: "LocalDRM", targets: ["LocalDRM"]),
        .library(name: "EmbeddedDRM", targets: ["EmbeddedDRM"]),
        .library(name: "SlurmDRM", targets: ["SlurmDRM"]),
        .library(name: "LocalDRMWire", targets: ["LocalDRMWire"]),
        .library(name: "drmaa", type: .dynamic, targets: ["DRMAA"]),
        .executable(name: "drmaa-shepherd", targets: ["drmaa-shepherd"]),
        .executable(name: "drmaad", targets: ["drmaad"]),
    ] + examples.map { .executable(name: $0, targets: [$0]) },
    targets: [
        .target(name: "DRMAACore"),
        .target(name: "CLocalDRM"),
        .target(name: "LocalDRM", dependencies: ["DRMAACore", "CLocalDRM", "LocalDRMWire", "ShepherdProtocol"]),
        .target(name: "EmbeddedDRM", dependencies: ["DRMAACore"]),
        // Slurm through its commands (sbatch, squeue, scontrol, scancel, sacct); LocalDRM for running them.
        .target(name: "SlurmDRM", dependencies: ["DRMAACore", "LocalDRM"]),
        // The durable mode's spool (Docs/Architecture.md, Spool) over the system's SQLite; for the
        // daemon only: libdrmaa.so does not link it.
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "LocalDRMSpool", dependencies: ["DRMAACore", "CSQLite", "LocalDRM"]),
        // The binary codec, framing and messages of LocalDRM's durable mode (daemon protocol, spool payloads).
        .target(name: "LocalDRMWire", dependencies: ["DRMAACore"]),
        // The messages and outcome file of a durable-mode job's shepherd, shared by it and the daemon.
        .target(name: "ShepherdProtocol"),
        // The per-job shepherd of the durable mode: the job's parent, which outlives the daemon.
        .executableTarget(name: "drmaa-shepherd", dependencies: ["ShepherdProtocol", "CLocalDRM"]),
        // The durable mode's per-user daemon (its logic is in LocalDRM; this adds the SQLite spool).
        .executableTarget(name: "drmaad", dependencies: ["LocalDRM", "LocalDRMSpool", "LocalDRMWire", "DRMAACore"]),
        // Linked into libdrmaa.so only; `make lib` routes too-new glibc symbols through it (Docs/C-API.md).
        .target(name: "CGlibcCompat"),
        .target(name: "DRMAA", dependencies: ["DRMAACore", "LocalDRM", "SlurmDRM", "CGlibcCompat"], exclude: ["include"]),
        .testTarget(name: "DRMAACoreTests", dependencies: ["DRMAACore", "EmbeddedDRM", "TestSupport"]),
        .testTarget(name: "LocalDRMWireTests", dependencies: ["LocalDRMWire", "DRMAACore"]),
        .testTarget(name: "SlurmDRMTests", dependencies: ["SlurmDRM", "DRMAACore", "LocalDRM"]),
        // The durable mode's programs too: its tests start them from beside the test bundle.
        .testTarget(name: "LocalDRMTests", dependencies: ["LocalDRM", "DRMAACore", "TestSupport", "CTestSupport", "drmaad", "drmaa-shepherd"]),
        // Depends on the executable so that `swift build --build-tests` builds the binary the tests run.
        .testTarget(name: "ShepherdTests", dependencies: ["ShepherdProtocol", "drmaa-shepherd", "CLocalDRM"]),
                .testTarget(name: "LocalDRMSpoolTests", dependencies: ["LocalDRMSpool", "DRMAACore", "CSQLite", "TestSupport", "LocalDRM"]),
        // Writes outcomes into a spool until the crash test kills it (Tests/LocalDRMSpoolTests).
        .executableTarget(name: "SpoolCrashHelper", dependencies: ["LocalDRMSpool", "DRMAACore"], path: "Tests/SpoolCrashHelper"),
        // Helpers shared by the test targets (Fixture, makeSession, expectDRMAAError, …).
        .target(name: "TestSupport", dependencies: ["DRMAACore", "EmbeddedDRM", "LocalDRM"], path: "Tests/TestSupport"),
        // What the tests need from C: dropping a thread's file capabilities (root tests as a user).
        .target(name: "CTestSupport", path: "Tests/CTestSupport"),
    ] + examples.map {
        .executableTarget(name: $0, dependencies: ["LocalDRM", "DRMAACore"], path: "Examples/\($0)")
    } + [
        // The benchmark suite (make bench, make bench-quick); see Docs/Performance.md. The spool and the
        // shepherd protocol: it times the durable mode's parts on their own.
        .target(name: "CDRMAABench", path: "Benchmarks/CDRMAABench"),
        .executableTarget(name: "DRMAABench", dependencies: ["LocalDRM", "DRMAACore", "CDRMAABench", "CLocalDRM", "LocalDRMSpool", "LocalDRMWire", "ShepherdProtocol", "SlurmDRM"],
                         path: "Benchmarks/DRMAABench"),
        // The fuzz harness (make fuzz, Docs/Testing.md): libFuzzer targets when built with
        // --sanitize=fuzzer -Xswiftc -DDRMAA_LIBFUZZER, otherwise a program that replays inputs.
        .executableTarget(name: "DRMAAFuzz", dependencies: ["DRMAACore", "LocalDRM", "EmbeddedDRM", "DRMAA", "SlurmDRM", "LocalDRMWire"], path: "Fuzz/DRMAAFuzz"),
    ],
    swiftLanguageModes: [.v6]
)
