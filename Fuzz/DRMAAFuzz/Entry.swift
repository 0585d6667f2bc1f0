// The fuzz harness of swift-drmaa (Docs/Testing.md). One binary, several targets: the target is
// chosen by $DRMAA_FUZZ_TARGET, so one instrumented build serves every parser.
//
// Built with `--sanitize=fuzzer -Xswiftc -DDRMAA_LIBFUZZER` (make fuzz), libFuzzer supplies
// `main` and calls LLVMFuzzerTestOneInput. In an ordinary build this file supplies a `main` that
// replays files or corpus directories through the same targets, to reproduce a finding without
// the fuzzer: `DRMAAFuzz <target> <file or directory>...`.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The fuzz targets, named as in `make fuzz` and Fuzz/corpus/<name>.
enum FuzzTarget: String, CaseIterable, Sendable {
    case timestamp
    case timeAmount = "time-amount"
    case native
    case categories
    case contact
    case template
    case cAPI = "c-api"
    case wire

    /// Runs one input; 0 keeps it for the corpus, -1 asks libFuzzer not to.
    func run(_ data: [UInt8]) -> Int32 {
        switch self {
        case .timestamp: TimestampTarget.run(data)
        case .timeAmount: TimeAmountTarget.run(data)
        case .native: NativeTarget.run(data)
        case .categories: CategoriesTarget.run(data)
        case .contact: ContactTarget.run(data)
        case .template: TemplateTarget.run(data)
        case .cAPI: CAPITarget.run(data)
        case .wire: WireTarget.run(data)
        }
    }

    static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

let selectedTarget: FuzzTarget = {
    guard let name = getenv("DRMAA_FUZZ_TARGET").map({ String(cString: $0) }), let target = FuzzTarget(rawValue: name) else {
        printError("DRMAAFuzz: set DRMAA_FUZZ_TARGET to one of: \(FuzzTarget.list)")
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 || data == nil ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    return selectedTarget.run(bytes)
}

/// Ends the run when an invariant does not hold: libFuzzer reports the abort as a crash and
/// saves the input; the replay program exits with the message.
func fail(_ message: String) -> Never {
    printError("DRMAAFuzz invariant failed [\(selectedTarget.rawValue)]: \(message)")
    abort()
}

/// `fail` unless `condition` holds.
func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fail(message()) }
}

/// Writes a line to standard error (unbuffered, so it is out before an abort).
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// Quotes a string for messages, escapes visible.
func quoted(_ text: String) -> String { String(reflecting: text) }

#if !DRMAA_LIBFUZZER
@main
enum Replay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count >= 2 else {
            printError("usage: DRMAAFuzz <target> <file or directory>...  (targets: \(FuzzTarget.list))")
            exit(2)
        }
        setenv("DRMAA_FUZZ_TARGET", name, 1)
        var count = 0
        for path in arguments.dropFirst() {
            for file in files(path) {
                _ = target.run(read(file))
                count += 1
            }
        }
        print("DRMAAFuzz \(name): \(count) inputs replayed, no invariant failed")
    }

    static func files(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [path] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            names.append(path + "/" + name)
        }
        return names.sorted()
    }

    static func read(_ path: String) -> [UInt8] {
        guard let file = fopen(path, "rb") else {
            printError("DRMAAFuzz: cannot open \(path)")
            exit(2)
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n <= 0 { break }
            bytes += buffer[..<n]
        }
        return bytes
    }
}
#endif
