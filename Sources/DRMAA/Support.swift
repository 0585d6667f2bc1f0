// Support for the DRMAA 1.0 C binding: the process-wide session, opaque handles, buffers and
// error-diagnosis handling. Every DRMAA rule lives in DRMAACore; this layer only converts.

import DRMAACore
import LocalDRM
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: The session

/// The one DRMAA session of the process (DRMAA 1.0: exactly one session per process, shared by
/// all threads). `Session` is itself thread-safe; `init`/`exit` toggle it, and a new `init` after
/// `exit` opens a new session on the same object (or re-attaches with `session=<key>`). No lock of
/// this layer is held around its calls, so blocking waits never block other threads here.
/// LocalDRM in the durable mode unless told otherwise (`mode=embedded`, `DRMAA_LOCAL_MODE`): C
/// and Python programs expect jobs to outlive them and to be visible to other processes, as on a
/// cluster. `backend=slurm` in the contact (or `DRMAA_BACKEND=slurm`) drives Slurm instead.
let session: Session = {
    var configuration = LocalDRM.Configuration()
    configuration.defaultMode = .durable
    return Session(system: ChosenSystem(local: LocalDRM(configuration: configuration)))
}()

/// Throws `NO_ACTIVE_SESSION` unless a session is active (for the template calls, whose rules
/// DRMAACore keeps in value types that have no session of their own).
func requireSession(_ call: String) throws(DRMAAError) {
    guard session.isActive else {
        throw DRMAAError(.noActiveSession, "\(call): no active DRMAA session (call drmaa_init first)")
    }
}

// MARK: Buffers

/// Copies `text` (its exact bytes, see `String.exactBytes`) into a caller buffer of `length`
/// bytes: at most `length - 1` bytes of text and a NUL, never more than `length` bytes. A NULL
/// buffer or a length of 0 writes nothing.
func copyOut(_ text: String, _ buffer: UnsafeMutablePointer<CChar>?, _ length: Int) {
    guard let buffer, length > 0 else { return }
    let bytes = text.exactBytes
    let count = min(bytes.count, length - 1)
    bytes.withUnsafeBytes { source in
        if count > 0 { UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress!, byteCount: count) }
    }
    buffer[count] = 0
}

/// Runs the body of a DRMAA call: SUCCESS leaves the diagnosis untouched; a failure writes the
/// error's specific message (never empty) into it and returns the code.
@inline(__always)
func drmaaCall(_ diagnosis: UnsafeMutablePointer<CChar>?, _ length: Int, _ body: () throws(DRMAAError) -> Void) -> Int32 {
    do {
        try body()
        return ErrorCode.success.rawValue
    } catch {
        copyOut(error.message, diagnosis, length)
        return error.code.rawValue
    }
}

/// A C string argument, byte for byte (`String(exactCString:)`), or `INVALID_ARGUMENT` naming the
/// parameter when it is NULL.
func string(_ pointer: UnsafePointer<CChar>?, _ parameter: String, _ call: String) throws(DRMAAError) -> String {
    guard let pointer else {
        throw DRMAAError(.invalidArgument, "\(call): \(parameter) is NULL")
    }
    return String(exactCString: pointer)
}

/// The strings of a NULL-terminated C array (`const char *[]`), or `INVALID_ARGUMENT` when the
/// array itself is NULL.
func strings(_ array: UnsafeMutablePointer<UnsafePointer<CChar>?>?, _ parameter: String, _ call: String) throws(DRMAAError) -> [String] {
    guard let array else {
        throw DRMAAError(.invalidArgument, "\(call): \(parameter) is NULL (pass an array ending in NULL)")
    }
    var result: [String] = []
    var index = 0
    while let element = array[index] {
        result.append(String(exactCString: element))
        index += 1
    }
    return result
}

/// Fails with `INVALID_ARGUMENT` when a required pointer is NULL.
func require(_ pointer: UnsafeRawPointer?, _ parameter: String, _ call: String) throws(DRMAAError) {
    guard pointer != nil else {
        throw DRMAAError(.invalidArgument, "\(call): \(parameter) is NULL")
    }
}

// MARK: Handles

/// The storage behind `drmaa_job_template_t *`: a `JobTemplate` value behind a lock.
final class TemplateBox: Sendable {
    let template: Mutex<JobTemplate>
    init(_ template: JobTemplate) { self.template = Mutex(template) }
}

/// The storage behind `drmaa_attr_names_t *`, `drmaa_attr_values_t *` and `drmaa_job_ids_t *`:
/// a snapshot of strings and a cursor.
final class StringVector: Sendable {
    enum Kind: String, Sendable {
        case names = "attribute names"
        case values = "attribute values"
        case jobIDs = "job ids"
    }
    let kind: Kind
    let items: [String]
    let cursor = Mutex(0)

    init(_ kind: Kind, _ items: [String]) {
        self.kind = kind
        self.items = items
    }

    /// The next element, advancing the cursor; `nil` at the end (and on every later call).
    func next() -> String? {
        cursor.withLock { position in
            guard position < items.count else { return nil }
            defer { position += 1 }
            return items[position]
        }
    }
}

/// Every live handle given out to C, by address. Handles are `Unmanaged` retained instances; a
/// pointer that is not in the registry (garbage, already released, or of the wrong kind) is
/// rejected with `INVALID_ARGUMENT` instead of being dereferenced.
enum Handles {
    private static let live = Mutex<Set<UInt>>([])

    static func make(_ object: AnyObject) -> OpaquePointer {
        let pointer = Unmanaged.passRetained(object).toOpaque()
        live.withLock { _ = $0.insert(UInt(bitPattern: pointer)) }
        return OpaquePointer(pointer)
    }

    /// The object behind a live handle, strongly referenced (looked up under the registry lock, so
    /// a concurrent release cannot free it under the caller).
    static func object<T: AnyObject & Sendable>(_ handle: OpaquePointer?, as type: T.Type) -> T? {
        guard let handle else { return nil }
        let raw = UnsafeMutableRawPointer(handle)
        return live.withLock { set -> T? in
            guard set.contains(UInt(bitPattern: raw)) else { return nil }
            return Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() as? T
        }
    }

    /// Releases a live handle of the given type; false (and nothing done) for anything else.
    @discardableResult
    static func release<T: AnyObject & Sendable>(_ handle: OpaquePointer?, as type: T.Type) -> Bool {
        guard let handle else { return false }
        let raw = UnsafeMutableRawPointer(handle)
        let removed = live.withLock { set -> Bool in
            guard set.contains(UInt(bitPattern: raw)),
                  Unmanaged<AnyObject>.fromOpaque(raw).takeUnretainedValue() is T
            else { return false }
            set.remove(UInt(bitPattern: raw))
            return true
        }
        if removed { Unmanaged<AnyObject>.fromOpaque(raw).release() }
        return removed
    }
}

func templateBox(_ handle: OpaquePointer?, _ call: String) throws(DRMAAError) -> TemplateBox {
    guard handle != nil else {
        throw DRMAAError(.invalidArgument, "\(call): the job template is NULL")
    }
    guard let box = Handles.object(handle, as: TemplateBox.self) else {
        throw DRMAAError(.invalidArgument, "\(call): the job template pointer is not a live template from drmaa_allocate_job_template (already deleted?)")
    }
    return box
}

func vector(_ handle: OpaquePointer?, _ call: String) throws(DRMAAError) -> StringVector {
    guard handle != nil else {
        throw DRMAAError(.invalidArgument, "\(call): the vector is NULL")
    }
    guard let vector = Handles.object(handle, as: StringVector.self) else {
        throw DRMAAError(.invalidArgument, "\(call): the vector pointer is not a live string vector (already released?)")
    }
    return vector
}

/// Hands a new vector to the caller through `out`.
func store(_ kind: StringVector.Kind, _ items: [String], _ out: UnsafeMutablePointer<OpaquePointer?>) {
    out.pointee = Handles.make(StringVector(kind, items))
}

// MARK: drmaa_strerror

/// Static, never freed C strings for the codes 0...25.
/// `nonisolated(unsafe)` is sound: the array is built once by the lazy global initialiser and never
/// mutated, and the strings it points to are never written or freed, so concurrent reads are safe.
nonisolated(unsafe) let errorMessages: [UnsafePointer<CChar>] = ErrorCode.allCases
    .sorted { $0.rawValue < $1.rawValue }
    .map { UnsafePointer(strdup($0.standardMessage)!) }
