import DRMAA
import DRMAACore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The C binding (the `drmaa_*` functions of libdrmaa.so, called in-process on LocalDRM):
/// attribute setters and getters with C strings and caller buffers, string vectors, then a
/// held job or bulk job that is terminated. No job ever runs: every job is submitted on hold
/// (`drmaa_js_state` is forced last) and terminated before the input ends.
///
/// Input: lines `name=value` (`drmaa_set_attribute`, or for a `drmaa_v_*` name the value is
/// appended and `drmaa_set_vector_attribute` called; the bytes are passed as they are, up to a
/// NUL), and settings `@buffer=<n>` (the length of the value buffer for reading back),
/// `@diagnosis=<n>` (the length of the diagnosis buffer), `@bulk=<begin>:<end>:<step>` (at most
/// 4 tasks; without it a single job).
/// Invariants: a set attribute reads back as the input's bytes exactly (UTF-8 or not), cut to the
/// buffer and NUL-terminated, never written past it; failures write a non-empty diagnosis within
/// its buffer; the jobs are on hold (or failed, when their deadline passed) and never running;
/// terminate and synchronize with dispose leave none; the template is deleted exactly once.
enum CAPITarget {
    /// The contact of the process's C session, opened once; each input re-attaches and exits.
    static let contact: [CChar] = {
        setenv("DRMAA_LOCAL_SLOTS", "2", 1)
        unsetenv("DRMAA_LOCAL_CATEGORIES")
        // In this process: thousands of inputs a second, no daemon to start or leave behind.
        setenv("DRMAA_LOCAL_MODE", "embedded", 1)
        let diagnosis = Buffer(1024)
        check(drmaa_init(nil, diagnosis.pointer, 1024) == 0, "drmaa_init: \(diagnosis.text)")
        let contact = Buffer(1024)
        check(drmaa_get_contact(contact.pointer, 1024, diagnosis.pointer, 1024) == 0, "drmaa_get_contact: \(diagnosis.text)")
        check(drmaa_exit(diagnosis.pointer, 1024) == 0, "drmaa_exit: \(diagnosis.text)")
        return Array(UnsafeBufferPointer(start: contact.pointer, count: strlen(contact.pointer) + 1))
    }()

    static func run(_ data: [UInt8]) -> Int32 {
        var valueLength = 4096, diagnosisLength = 1024
        var bulk: (Int32, Int32, Int32)?
        var settings: [(name: [UInt8], value: [UInt8])] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            let equals = line.firstIndex(of: UInt8(ascii: "=")) ?? line.endIndex
            let name = Array(line[..<equals]), value = equals == line.endIndex ? [] : Array(line[(equals + 1)...])
            let text = String(decoding: value, as: UTF8.self)
            switch String(decoding: name, as: UTF8.self) {
            case "@buffer": if let n = Int(text) { valueLength = min(max(n, 0), 65_536) }
            case "@diagnosis": if let n = Int(text) { diagnosisLength = min(max(n, 0), 65_536) }
            case "@bulk":
                let f = text.split(separator: ":").compactMap { Int32($0) }
                if f.count == 3 { bulk = (f[0], f[1], f[2]) }
            default: settings.append((name, value))
            }
        }
        let diagnosis = Buffer(diagnosisLength)
        let call = Call(diagnosis: diagnosis)
        contact.withUnsafeBufferPointer { call.expect(drmaa_init($0.baseAddress, diagnosis.pointer, diagnosisLength), "drmaa_init") }
        defer { call.expect(drmaa_exit(diagnosis.pointer, diagnosisLength), "drmaa_exit") }

        var jt: OpaquePointer?
        call.expect(drmaa_allocate_job_template(&jt, diagnosis.pointer, diagnosisLength), "drmaa_allocate_job_template")
        var vectors: [[UInt8]: [[UInt8]]] = [:]
        let valueBuffer = Buffer(valueLength)
        for (name, value) in settings {
            let nameText = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
            if AttributeName.vectorNames.contains(nameText) && !name.contains(0) {
                vectors[name, default: []].append(value)
                setVector(jt, name, vectors[name]!, call)
            } else {
                setScalar(jt, name, value, valueBuffer, call)
            }
        }
        submitHeld(jt, bulk: bulk, call)
        call.expect(drmaa_delete_job_template(jt, diagnosis.pointer, diagnosisLength), "drmaa_delete_job_template")
        call.expect(drmaa_delete_job_template(jt, diagnosis.pointer, diagnosisLength), "a second drmaa_delete_job_template", .invalidArgument)
        return 0
    }

    static func setScalar(_ jt: OpaquePointer?, _ name: [UInt8], _ value: [UInt8], _ buffer: Buffer, _ call: Call) {
        let code = cString(name) { n in cString(value) { v in drmaa_set_attribute(jt, n, v, call.diagnosis.pointer, call.diagnosis.length) } }
        call.checkDiagnosis(code, "drmaa_set_attribute")
        guard code == 0 else {
            check([4, 13, 14].contains(code), "drmaa_set_attribute(\(quoted(String(decoding: name, as: UTF8.self)))): code \(code)")
            return
        }
        buffer.poison()
        let read = cString(name) { drmaa_get_attribute(jt, $0, buffer.pointer, buffer.length, call.diagnosis.pointer, call.diagnosis.length) }
        guard read == 0 else { fail("drmaa_get_attribute after a successful set: code \(read) \(call.diagnosis.text)") }
        let expected = Array(value.prefix { $0 != 0 })  // bytes round-trip exactly (String(exactBytes:))
        guard buffer.length > 0 else { return }
        let cut = Array(expected.prefix(buffer.length - 1))
        check(Array(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.pointer).assumingMemoryBound(to: UInt8.self), count: cut.count)) == cut
              && buffer.pointer[cut.count] == 0,
              "drmaa_get_attribute reads back \(quoted(buffer.text)), expected \(quoted(String(decoding: cut, as: UTF8.self)))")
    }

    static func setVector(_ jt: OpaquePointer?, _ name: [UInt8], _ values: [[UInt8]], _ call: Call) {
        let strings = values.map { strdup(String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)) }
        defer { strings.forEach { free($0) } }
        var array: [UnsafePointer<CChar>?] = strings.map { UnsafePointer($0) } + [nil]
        let code = cString(name) { drmaa_set_vector_attribute(jt, $0, &array, call.diagnosis.pointer, call.diagnosis.length) }
        check(code == 0, "drmaa_set_vector_attribute: code \(code) \(call.diagnosis.text)")
        var handle: OpaquePointer?
        let read = cString(name) { drmaa_get_vector_attribute(jt, $0, &handle, call.diagnosis.pointer, call.diagnosis.length) }
        check(read == 0, "drmaa_get_vector_attribute: code \(read)")
        defer { drmaa_release_attr_values(handle) }
        var count: Int32 = -1
        check(drmaa_get_num_attr_values(handle, &count) == 0 && count == Int32(values.count), "drmaa_get_num_attr_values: \(count), expected \(values.count)")
        let item = Buffer(65_600)
        for value in values {
            check(drmaa_get_next_attr_value(handle, item.pointer, item.length) == 0, "drmaa_get_next_attr_value ended early")
            check(item.text == String(decoding: value.prefix { $0 != 0 }, as: UTF8.self), "vector value \(quoted(item.text))")
        }
        check(drmaa_get_next_attr_value(handle, item.pointer, item.length) == ErrorCode.noMoreElements.rawValue, "a vector has more values than were set")
    }

    static func submitHeld(_ jt: OpaquePointer?, bulk: (Int32, Int32, Int32)?, _ call: Call) {
        call.expect(drmaa_set_attribute(jt, "drmaa_js_state", "drmaa_hold", call.diagnosis.pointer, call.diagnosis.length), "drmaa_set_attribute(drmaa_js_state)")
        var ids: [String] = []
        if let (begin, bulkEnd, step) = bulk {
            var end = bulkEnd
            if begin >= 1, end >= begin, step >= 1, (end - begin) / step >= 4 {
                end = Int32(clamping: Int64(begin) + 3 * Int64(step))
            }
            var handle: OpaquePointer?
            let code = drmaa_run_bulk_jobs(&handle, jt, begin, end, step, call.diagnosis.pointer, call.diagnosis.length)
            call.checkDiagnosis(code, "drmaa_run_bulk_jobs")
            if code == 0 {
                let id = Buffer(128)
                while drmaa_get_next_job_id(handle, id.pointer, id.length) == 0 { ids.append(id.text) }
                drmaa_release_job_ids(handle)
                check(!ids.isEmpty && ids.count <= 4, "drmaa_run_bulk_jobs gave \(ids.count) ids")
            } else {
                check([4, 17].contains(code), "drmaa_run_bulk_jobs: code \(code) \(call.diagnosis.text)")
            }
        } else {
            let id = Buffer(128)
            let code = drmaa_run_job(id.pointer, id.length, jt, call.diagnosis.pointer, call.diagnosis.length)
            call.checkDiagnosis(code, "drmaa_run_job")
            if code == 0 { ids.append(id.text) } else { check(code == 17, "drmaa_run_job: code \(code) \(call.diagnosis.text)") }
        }
        for id in ids {
            var state: Int32 = 0
            check(drmaa_job_ps(id, &state, call.diagnosis.pointer, call.diagnosis.length) == 0, "drmaa_job_ps(\(id)): \(call.diagnosis.text)")
            check(state == JobState.userOnHold.rawValue || state == JobState.failed.rawValue, "held job \(id) is in state \(state)")
        }
        call.expect(drmaa_control("DRMAA_JOB_IDS_SESSION_ALL", 4, call.diagnosis.pointer, call.diagnosis.length), "drmaa_control(TERMINATE)")
        var all: [UnsafePointer<CChar>?] = [UnsafePointer(strdup("DRMAA_JOB_IDS_SESSION_ALL")), nil]
        defer { free(UnsafeMutablePointer(mutating: all[0])) }
        call.expect(drmaa_synchronize(&all, 10, 1, call.diagnosis.pointer, call.diagnosis.length), "drmaa_synchronize(dispose)")
        call.expect(drmaa_wait("DRMAA_JOB_IDS_SESSION_ANY", nil, 0, nil, 0, nil, call.diagnosis.pointer, call.diagnosis.length),
                    "drmaa_wait(ANY) after dispose", .invalidJob)
    }

    /// Calls `body` with a NUL-terminated copy of `bytes` (cut at a NUL inside them, as C would).
    static func cString<R>(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        (bytes + [0]).withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
    }

    /// Checks return codes and the diagnosis buffer of calls.
    struct Call {
        let diagnosis: Buffer

        func expect(_ code: Int32, _ what: String, _ expected: ErrorCode = .success) {
            check(code == expected.rawValue, "\(what): code \(code), expected \(expected.rawValue): \(diagnosis.text)")
            checkDiagnosis(code, what)
        }

        /// A failure writes a non-empty diagnosis, NUL-terminated within its buffer.
        func checkDiagnosis(_ code: Int32, _ what: String) {
            defer { diagnosis.poison() }
            guard code != 0, diagnosis.length > 0 else { return }
            let length = strnlen(diagnosis.pointer, diagnosis.length)
            check(length < diagnosis.length, "\(what): the diagnosis is not NUL-terminated within its \(diagnosis.length) bytes")
            check(length > 0 || diagnosis.length == 1, "\(what): code \(code) with an empty diagnosis")
        }
    }

    /// A heap buffer of exactly `length` bytes, so that AddressSanitizer sees a write past it.
    final class Buffer {
        let pointer: UnsafeMutablePointer<CChar>
        let length: Int
        init(_ length: Int) {
            self.length = length
            pointer = .allocate(capacity: length)
            poison()
        }
        deinit { pointer.deallocate() }
        /// Fills the buffer with a non-NUL byte, so that a missing terminator shows.
        func poison() { if length > 0 { pointer.initialize(repeating: 0x5A, count: length) } }
        var text: String {
            guard length > 0 else { return "" }
            return String(decoding: UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strnlen(pointer, length)), as: UTF8.self)
        }
    }
}
