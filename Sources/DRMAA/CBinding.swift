// The 36 functions of the DRMAA 1.0 C binding (`drmaa.h`), exported with their C names.
//
// Parameter types follow the C prototypes exactly: `char *` is `UnsafeMutablePointer<CChar>?`,
// `const char *` is `UnsafePointer<CChar>?`, `size_t` is `Int`, `int` is `Int32`, `signed long` is
// `CLong`, handles (`drmaa_job_template_t *`, …) are `OpaquePointer?`.

import DRMAACore
import LocalDRM

public typealias CString = UnsafeMutablePointer<CChar>
public typealias ConstCString = UnsafePointer<CChar>

// MARK: String vectors

private func getNext(_ call: String, _ handle: OpaquePointer?, _ value: CString?, _ valueLength: Int,
                     _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        guard handle != nil else {
            throw DRMAAError(.noMoreElements, "\(call): the vector is NULL, so it has no elements")
        }
        let vector = try vector(handle, call)
        guard let item = vector.next() else {
            throw DRMAAError(.noMoreElements, "\(call): no more elements: all \(vector.items.count) \(vector.kind.rawValue) were returned")
        }
        copyOut(item, value, valueLength)
    }
}

private func getNum(_ call: String, _ handle: OpaquePointer?, _ size: UnsafeMutablePointer<Int32>?,
                    _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let vector = try vector(handle, call)
        guard let size else { throw DRMAAError(.invalidArgument, "\(call): size is NULL") }
        size.pointee = Int32(clamping: vector.items.count)
    }
}

@_cdecl("drmaa_get_next_attr_name")
public func drmaa_get_next_attr_name(_ values: OpaquePointer?, _ value: CString?, _ valueLength: Int) -> Int32 {
    getNext("drmaa_get_next_attr_name", values, value, valueLength, nil, 0)
}

@_cdecl("drmaa_get_next_attr_value")
public func drmaa_get_next_attr_value(_ values: OpaquePointer?, _ value: CString?, _ valueLength: Int) -> Int32 {
    getNext("drmaa_get_next_attr_value", values, value, valueLength, nil, 0)
}

@_cdecl("drmaa_get_next_job_id")
public func drmaa_get_next_job_id(_ values: OpaquePointer?, _ value: CString?, _ valueLength: Int) -> Int32 {
    getNext("drmaa_get_next_job_id", values, value, valueLength, nil, 0)
}

@_cdecl("drmaa_get_num_attr_names")
public func drmaa_get_num_attr_names(_ values: OpaquePointer?, _ size: UnsafeMutablePointer<Int32>?) -> Int32 {
    getNum("drmaa_get_num_attr_names", values, size, nil, 0)
}

@_cdecl("drmaa_get_num_attr_values")
public func drmaa_get_num_attr_values(_ values: OpaquePointer?, _ size: UnsafeMutablePointer<Int32>?) -> Int32 {
    getNum("drmaa_get_num_attr_values", values, size, nil, 0)
}

@_cdecl("drmaa_get_num_job_ids")
public func drmaa_get_num_job_ids(_ values: OpaquePointer?, _ size: UnsafeMutablePointer<Int32>?) -> Int32 {
    getNum("drmaa_get_num_job_ids", values, size, nil, 0)
}

@_cdecl("drmaa_release_attr_names")
public func drmaa_release_attr_names(_ values: OpaquePointer?) {
    Handles.release(values, as: StringVector.self)
}

@_cdecl("drmaa_release_attr_values")
public func drmaa_release_attr_values(_ values: OpaquePointer?) {
    Handles.release(values, as: StringVector.self)
}

@_cdecl("drmaa_release_job_ids")
public func drmaa_release_job_ids(_ values: OpaquePointer?) {
    Handles.release(values, as: StringVector.self)
}

// MARK: Session

@_cdecl("drmaa_init")
public func drmaa_init(_ contact: ConstCString?, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        try session.initialize(contact: contact.map { String(exactCString: $0) })
    }
}

@_cdecl("drmaa_exit")
public func drmaa_exit(_ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        try session.exit()
    }
}

// MARK: Job templates

@_cdecl("drmaa_allocate_job_template")
public func drmaa_allocate_job_template(_ jt: UnsafeMutablePointer<OpaquePointer?>?, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_allocate_job_template"
        guard let jt else { throw DRMAAError(.invalidArgument, "\(call): jt is NULL") }
        jt.pointee = Handles.make(TemplateBox(try session.createJobTemplate()))
    }
}

@_cdecl("drmaa_delete_job_template")
public func drmaa_delete_job_template(_ jt: OpaquePointer?, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_delete_job_template"
        let box = try templateBox(jt, call)
        session.deleteJobTemplate(box.template.withLock { $0 })
        guard Handles.release(jt, as: TemplateBox.self) else {
            throw DRMAAError(.invalidArgument, "\(call): the job template was deleted concurrently")
        }
    }
}

@_cdecl("drmaa_set_attribute")
public func drmaa_set_attribute(_ jt: OpaquePointer?, _ name: ConstCString?, _ value: ConstCString?,
                                _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_set_attribute"
        let box = try templateBox(jt, call)
        let name = try string(name, "name", call)
        let value = try string(value, "value", call)
        try requireSession(call)
        try box.template.withLock { template throws(DRMAAError) in
            try template.setAttribute(name, value)
        }
    }
}

@_cdecl("drmaa_get_attribute")
public func drmaa_get_attribute(_ jt: OpaquePointer?, _ name: ConstCString?, _ value: CString?, _ valueLength: Int,
                                _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_get_attribute"
        let box = try templateBox(jt, call)
        let name = try string(name, "name", call)
        try require(value, "value", call)
        try requireSession(call)
        let text = try box.template.withLock { template throws(DRMAAError) in
            try template.attribute(name)
        }
        copyOut(text, value, valueLength)
    }
}

@_cdecl("drmaa_set_vector_attribute")
public func drmaa_set_vector_attribute(_ jt: OpaquePointer?, _ name: ConstCString?,
                                       _ value: UnsafeMutablePointer<ConstCString?>?,
                                       _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_set_vector_attribute"
        let box = try templateBox(jt, call)
        let name = try string(name, "name", call)
        let values = try strings(value, "value", call)
        try requireSession(call)
        try box.template.withLock { template throws(DRMAAError) in
            try template.setVectorAttribute(name, values)
        }
    }
}

@_cdecl("drmaa_get_vector_attribute")
public func drmaa_get_vector_attribute(_ jt: OpaquePointer?, _ name: ConstCString?,
                                       _ values: UnsafeMutablePointer<OpaquePointer?>?,
                                       _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_get_vector_attribute"
        let box = try templateBox(jt, call)
        let name = try string(name, "name", call)
        guard let values else { throw DRMAAError(.invalidArgument, "\(call): values is NULL") }
        try requireSession(call)
        let items = try box.template.withLock { template throws(DRMAAError) in
            try template.vectorAttribute(name)
        }
        store(.values, items, values)
    }
}

@_cdecl("drmaa_get_attribute_names")
public func drmaa_get_attribute_names(_ values: UnsafeMutablePointer<OpaquePointer?>?, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_get_attribute_names"
        guard let values else { throw DRMAAError(.invalidArgument, "\(call): values is NULL") }
        try requireSession(call)
        store(.names, AttributeName.scalarNames, values)
    }
}

@_cdecl("drmaa_get_vector_attribute_names")
public func drmaa_get_vector_attribute_names(_ values: UnsafeMutablePointer<OpaquePointer?>?, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_get_vector_attribute_names"
        guard let values else { throw DRMAAError(.invalidArgument, "\(call): values is NULL") }
        try requireSession(call)
        store(.names, AttributeName.vectorNames, values)
    }
}

// MARK: Submission

@_cdecl("drmaa_run_job")
public func drmaa_run_job(_ jobID: CString?, _ jobIDLength: Int, _ jt: OpaquePointer?,
                          _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_run_job"
        try require(jobID, "job_id", call)
        let box = try templateBox(jt, call)
        let template = box.template.withLock { $0 }
        let id = try session.runJob(template)
        copyOut(id, jobID, jobIDLength)
    }
}

@_cdecl("drmaa_run_bulk_jobs")
public func drmaa_run_bulk_jobs(_ jobIDs: UnsafeMutablePointer<OpaquePointer?>?, _ jt: OpaquePointer?,
                                _ start: Int32, _ end: Int32, _ increment: Int32,
                                _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_run_bulk_jobs"
        guard let jobIDs else { throw DRMAAError(.invalidArgument, "\(call): jobids is NULL") }
        let box = try templateBox(jt, call)
        let template = box.template.withLock { $0 }
        let ids = try session.runBulkJobs(template, beginIndex: Int(start), endIndex: Int(end), step: Int(increment))
        store(.jobIDs, ids, jobIDs)
    }
}

// MARK: Control, status, waiting

@_cdecl("drmaa_control")
public func drmaa_control(_ jobID: ConstCString?, _ action: Int32, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let id = try string(jobID, "jobid", "drmaa_control")
        let action = try JobControlAction(code: action)
        try session.control(id, action)
    }
}

@_cdecl("drmaa_synchronize")
public func drmaa_synchronize(_ jobIDs: UnsafeMutablePointer<ConstCString?>?, _ timeout: CLong, _ dispose: Int32,
                              _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_synchronize"
        let ids = try strings(jobIDs, "job_ids", call)
        let timeout = try Timeout(drmaaValue: Int(timeout))
        try session.synchronize(ids, timeout: timeout, dispose: dispose != 0)
    }
}

@_cdecl("drmaa_wait")
public func drmaa_wait(_ jobID: ConstCString?, _ jobIDOut: CString?, _ jobIDOutLength: Int,
                       _ stat: UnsafeMutablePointer<Int32>?, _ timeout: CLong,
                       _ rusage: UnsafeMutablePointer<OpaquePointer?>?,
                       _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let id = try string(jobID, "job_id", "drmaa_wait")
        let timeout = try Timeout(drmaaValue: Int(timeout))
        let info = try session.wait(id, timeout: timeout)
        copyOut(info.jobID, jobIDOut, jobIDOutLength)
        stat?.pointee = info.status.rawValue
        guard let rusage else { return }
        guard info.hasResourceUsage, let usage = info.outcome.usage else {
            let reason = info.abortReason.map { " (\($0))" } ?? ""
            throw DRMAAError(.noRusage, "job \(info.jobID) ended without ever running\(reason), so it has no resource usage; it has been reaped")
        }
        // Why a job was aborted (terminated, could not start, its exit status lost) or how its
        // process was ended is otherwise invisible to C and Python.
        var entries = usage.entries.map { "\($0.name)=\($0.value)" }
        if let reason = info.abortReason { entries.append(reasonEntry("drmaa_abort_reason", reason)) }
        if let reason = info.killReason { entries.append(reasonEntry("drmaa_kill_reason", reason)) }
        store(.values, entries, rusage)
    }
}

/// The longest reason entry in a usage list, in bytes: drmaa-python reads each entry into a
/// 1,024-byte buffer and decodes it as UTF-8, so a longer one would be cut, maybe inside a character.
let maximumReasonEntryBytes = 1023

/// `name=reason`, the reason shortened to fit ``maximumReasonEntryBytes`` (ending in `...`, cut
/// between characters).
func reasonEntry(_ name: String, _ reason: String) -> String {
    let entry = "\(name)=\(reason)"
    guard entry.exactBytes.count > maximumReasonEntryBytes else { return entry }
    return entry.prefix(exactByteCount: maximumReasonEntryBytes - 3) + "..."
}

private func decode(_ call: String, _ out: UnsafeMutablePointer<Int32>?, _ stat: Int32,
                    _ diagnosis: CString?, _ diagnosisLength: Int, _ field: (JobStatus) -> Int32) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        guard let out else { throw DRMAAError(.invalidArgument, "\(call): the output pointer is NULL") }
        out.pointee = field(JobStatus(rawValue: stat))
    }
}

@_cdecl("drmaa_wifexited")
public func drmaa_wifexited(_ exited: UnsafeMutablePointer<Int32>?, _ stat: Int32, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    decode("drmaa_wifexited", exited, stat, diagnosis, diagnosisLength) { $0.exited ? 1 : 0 }
}

@_cdecl("drmaa_wexitstatus")
public func drmaa_wexitstatus(_ exitStatus: UnsafeMutablePointer<Int32>?, _ stat: Int32, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    decode("drmaa_wexitstatus", exitStatus, stat, diagnosis, diagnosisLength) { $0.exitStatus }
}

@_cdecl("drmaa_wifsignaled")
public func drmaa_wifsignaled(_ signaled: UnsafeMutablePointer<Int32>?, _ stat: Int32, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    decode("drmaa_wifsignaled", signaled, stat, diagnosis, diagnosisLength) { $0.signaled ? 1 : 0 }
}

@_cdecl("drmaa_wtermsig")
public func drmaa_wtermsig(_ signal: CString?, _ signalLength: Int, _ stat: Int32, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        copyOut(JobStatus(rawValue: stat).signalName, signal, signalLength)
    }
}

@_cdecl("drmaa_wcoredump")
public func drmaa_wcoredump(_ coreDumped: UnsafeMutablePointer<Int32>?, _ stat: Int32, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    decode("drmaa_wcoredump", coreDumped, stat, diagnosis, diagnosisLength) { $0.coreDumped ? 1 : 0 }
}

@_cdecl("drmaa_wifaborted")
public func drmaa_wifaborted(_ aborted: UnsafeMutablePointer<Int32>?, _ stat: Int32, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    decode("drmaa_wifaborted", aborted, stat, diagnosis, diagnosisLength) { $0.aborted ? 1 : 0 }
}

@_cdecl("drmaa_job_ps")
public func drmaa_job_ps(_ jobID: ConstCString?, _ remotePS: UnsafeMutablePointer<Int32>?, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        let call = "drmaa_job_ps"
        let id = try string(jobID, "job_id", call)
        guard let remotePS else { throw DRMAAError(.invalidArgument, "\(call): remote_ps is NULL") }
        remotePS.pointee = try session.jobStatus(id).rawValue
    }
}

// MARK: Auxiliary

@_cdecl("drmaa_strerror")
public func drmaa_strerror(_ code: Int32) -> ConstCString? {
    guard code >= 0, Int(code) < errorMessages.count else { return nil }
    return errorMessages[Int(code)]
}

@_cdecl("drmaa_get_contact")
public func drmaa_get_contact(_ contact: CString?, _ contactLength: Int, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        try require(contact, "contact", "drmaa_get_contact")
        copyOut(session.contact, contact, contactLength)
    }
}

@_cdecl("drmaa_version")
public func drmaa_version(_ major: UnsafeMutablePointer<UInt32>?, _ minor: UnsafeMutablePointer<UInt32>?,
                          _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    major?.pointee = Session.version.major
    minor?.pointee = Session.version.minor
    return ErrorCode.success.rawValue
}

@_cdecl("drmaa_get_DRM_system")
public func drmaa_get_DRM_system(_ system: CString?, _ systemLength: Int, _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        try require(system, "drm_system", "drmaa_get_DRM_system")
        copyOut(session.drmsInfo, system, systemLength)
    }
}

@_cdecl("drmaa_get_DRMAA_implementation")
public func drmaa_get_DRMAA_implementation(_ implementation: CString?, _ implementationLength: Int,
                                           _ diagnosis: CString?, _ diagnosisLength: Int) -> Int32 {
    drmaaCall(diagnosis, diagnosisLength) { () throws(DRMAAError) in
        try require(implementation, "drmaa_impl", "drmaa_get_DRMAA_implementation")
        copyOut(session.drmaaImplementation, implementation, implementationLength)
    }
}
