import Testing
import DRMAACore
import LocalDRMWire

/// Encodes, checks that decoding gives the value back and that re-encoding gives the same bytes
/// (bytes, not `==`, decide for values holding NaN or canonically equivalent strings).
func expectRoundTrip<Value: WireCodable & Equatable>(_ value: Value, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let bytes = value.wireBytes
    let decoded = try Value(wireBytes: bytes)
    #expect(decoded.wireBytes == bytes, "re-encoding \(value) changed its bytes", sourceLocation: sourceLocation)
    if !containsNaN(value) {
        #expect(decoded == value, sourceLocation: sourceLocation)
    }
}

/// NaN is not equal to itself, so values holding one are compared by their bytes only.
func containsNaN(_ value: Any) -> Bool {
    if let double = value as? Double { return double.isNaN }
    return Mirror(reflecting: value).children.contains { containsNaN($0.value) }
}

/// Every strict prefix of the encoding of `value` must throw (the format is prefix-free).
func expectEveryTruncationThrows<Value: WireCodable>(_ value: Value, sourceLocation: SourceLocation = #_sourceLocation) {
    let bytes = value.wireBytes
    for length in 0..<bytes.count {
        #expect(throws: WireError.self, "a prefix of \(length) of \(bytes.count) bytes decoded", sourceLocation: sourceLocation) {
            _ = try Value(wireBytes: Array(bytes[..<length]))
        }
    }
}

func decodeError<Value: WireCodable>(_ type: Value.Type, _ bytes: [UInt8]) -> WireError? {
    do {
        _ = try Value(wireBytes: bytes)
        return nil
    } catch {
        return error
    }
}

@Suite("Wire codec: primitives", .timeLimit(.minutes(1)))
struct WirePrimitiveTests {
    @Test("varints are LEB128, shortest form, and zigzag for signed numbers")
    func varintLayout() throws {
        var encoder = WireEncoder()
        encoder.write(UInt64(0))
        encoder.write(UInt64(127))
        encoder.write(UInt64(128))
        encoder.write(UInt64(300))
        encoder.write(Int64(-1))
        encoder.write(Int64(1))
        encoder.write(Int64(-64))
        #expect(encoder.bytes == [0x00, 0x7F, 0x80, 0x01, 0xAC, 0x02, 0x01, 0x02, 0x7F])
        var max = WireEncoder()
        max.write(UInt64.max)
        #expect(max.bytes == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        var decoder = WireDecoder(max.bytes)
        #expect(try decoder.readUInt64() == .max)
        for value in Samples.int64s {
            var encoder = WireEncoder()
            encoder.write(value)
            var decoder = WireDecoder(encoder.bytes)
            #expect(try decoder.readInt64() == value)
            #expect(decoder.isAtEnd)
        }
    }

    @Test("overlong, too long and truncated varints are refused")
    func badVarints() {
        for bytes: [UInt8] in [[0x80, 0x00], [0xFF, 0x00], [0x80, 0x80, 0x00]] {
            var decoder = WireDecoder(bytes)
            #expect(throws: WireError(.malformed, "a number at offset 0 is not in its shortest encoding")) { try decoder.readUInt64() }
        }
        var tooBig = WireDecoder([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02])
        #expect(throws: WireError(.malformed, "a number at offset 0 does not fit 64 bits")) { try tooBig.readUInt64() }
        var eleven = WireDecoder([UInt8](repeating: 0xFF, count: 11))
        #expect(throws: WireError.self) { try eleven.readUInt64() }
        var truncated = WireDecoder([0x80])
        #expect(throws: WireError(.truncated, "the input ends inside a number (at offset 0)")) { try truncated.readUInt64() }
        var narrow = WireDecoder([0x80, 0x80, 0x80, 0x80, 0x10])
        #expect((try? narrow.readInt32()) == nil)
    }

    @Test("booleans are 0 or 1; doubles keep their bit pattern (NaN payloads, -0, infinities)")
    func flagsAndDoubles() throws {
        var bad = WireDecoder([2])
        #expect(throws: WireError(.malformed, "a flag at offset 0 is 2, not 0 or 1")) { try bad.readBool() }
        for value in Samples.doubles {
            var encoder = WireEncoder()
            encoder.write(value)
            #expect(encoder.bytes.count == 8)
            var decoder = WireDecoder(encoder.bytes)
            #expect(try decoder.readDouble().bitPattern == value.bitPattern)
        }
        var one = WireEncoder()
        one.write(1.0)
        #expect(one.bytes == [0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
    }

    @Test("strings travel as their exact bytes: invalid UTF-8, NULs and escape-range bytes come back byte for byte")
    func exactStrings() throws {
        for string in Samples.strings {
            var encoder = WireEncoder()
            encoder.write(string)
            #expect(Array(encoder.bytes.dropFirst(encoder.bytes.count - string.exactBytes.count)) == string.exactBytes)
            var decoder = WireDecoder(encoder.bytes)
            #expect(try decoder.readString().exactBytes == string.exactBytes)
            #expect(decoder.isAtEnd)
        }
        // Every single byte, and every pair of high bytes.
        var all: [UInt8] = Array(0...255)
        for high in UInt8(0x80)...0xFF { all += [high, 0xBF, high] }
        var encoder = WireEncoder()
        encoder.write(String(exactBytes: all))
        var decoder = WireDecoder(encoder.bytes)
        #expect(try decoder.readString().exactBytes == all)
    }

    @Test("a length or count larger than the rest of the input is refused before anything is allocated")
    func lengthsAreCapped() throws {
        var encoder = WireEncoder()
        encoder.write(UInt64.max >> 1)
        var huge = WireDecoder(encoder.bytes)
        #expect(throws: WireError.self) { try huge.readString() }
        var list = WireDecoder([0x05, 0x00, 0x00, 0x00, 0x00])
        #expect(throws: WireError(.truncated, "the count of ids at offset 0 is 5, but only 4 bytes follow")) {
            try list.readStrings("ids")
        }
        var justEnough = WireDecoder([0x04, 0x00, 0x00, 0x00, 0x00])
        #expect(try justEnough.readStrings("ids") == ["", "", "", ""])
    }

    @Test("bytes after a value are refused")
    func trailingBytes() {
        var bytes = JobState.running.wireBytes
        bytes.append(0)
        #expect(decodeError(JobState.self, bytes) == WireError(.malformed, "1 unexpected bytes after the end of JobState (at offset 1)"))
    }
}

@Suite("Wire codec: DRMAA values", .timeLimit(.minutes(2)))
struct WireValueTests {
    @Test("every job state, control action and error code round-trips; unknown numbers are refused")
    func enumerations() throws {
        for state in JobState.allCases { try expectRoundTrip(state) }
        for action in JobControlAction.allCases { try expectRoundTrip(action) }
        for error in Samples.errors { try expectRoundTrip(error) }
        #expect(decodeError(JobState.self, [0x01])?.kind == .unknownTag)
        #expect(decodeError(JobControlAction.self, [0x05])?.kind == .unknownTag)
        #expect(decodeError(DRMAAError.self, [26, 1, 0x61])?.kind == .unknownTag)
        #expect(decodeError(DRMAAError.self, [18, 0]) == WireError(.malformed, "the error message at offset 1 is empty"))
        #expect(JobState.userOnHold.wireBytes == [0x12])
    }

    @Test("terminations, resource usage (with extra entries, NaN, extremes) and outcomes round-trip")
    func outcomes() throws {
        for termination in Samples.terminations { try expectRoundTrip(termination) }
        for usage in Samples.usages { try expectRoundTrip(usage) }
        for outcome in Samples.outcomes { try expectRoundTrip(outcome) }
        #expect(decodeError(Termination.self, [3])?.kind == .unknownTag)
        let nan = Samples.usages[2]
        let decoded = try ResourceUsage(wireBytes: nan.wireBytes)
        #expect(decoded.submissionTime.bitPattern == nan.submissionTime.bitPattern)
        #expect(decoded.systemTime.bitPattern == 0x7FF8_DEAD_BEEF_0001)
        #expect(decoded.extraEntries.map(\.name.exactBytes) == nan.extraEntries.map(\.name.exactBytes))
    }

    @Test("a job template keeps every attribute exactly, in a canonical order")
    func templates() throws {
        for template in Samples.templates { try expectRoundTrip(template) }
        let full = Samples.fullTemplate
        #expect(full.setAttributeNames.count == AttributeName.allCases.count)
        let decoded = try JobTemplate(wireBytes: full.wireBytes)
        for attribute in AttributeName.allCases {
            if attribute.isVector {
                #expect(decoded[vector: attribute]?.map(\.exactBytes) == full[vector: attribute]?.map(\.exactBytes), "\(attribute.rawValue)")
            } else {
                #expect(decoded[scalar: attribute]?.exactBytes == full[scalar: attribute]?.exactBytes, "\(attribute.rawValue)")
            }
        }
        #expect(JobTemplate().wireBytes == [0])
    }

    @Test("a template with an unknown attribute number, attributes out of order, or a value the template refuses is refused")
    func badTemplates() {
        #expect(decodeError(JobTemplate.self, [1, 22, 0])
            == WireError(.unknownTag, "job template attribute number 22 at offset 1 is unknown to this version"))
        #expect(decodeError(JobTemplate.self, [1, 0, 0])?.kind == .unknownTag)
        #expect(decodeError(JobTemplate.self, [2, 3, 0, 1, 0])
            == WireError(.malformed, "job template attribute drmaa_remote_command at offset 3 is out of order or repeated"))
        #expect(decodeError(JobTemplate.self, [2, 1, 0, 1, 0])?.kind == .malformed)
        // drmaa_js_state "x"
        let refused = decodeError(JobTemplate.self, [1, 2, 1, 0x78])
        #expect(refused?.kind == .malformed)
        #expect(refused?.message.contains("drmaa_js_state must be 'drmaa_active' or 'drmaa_hold', not 'x'") == true)
        // A count the input cannot hold (2 bytes per attribute at least).
        #expect(decodeError(JobTemplate.self, [2, 1, 0])?.kind == .truncated)
    }

    @Test("submission inputs (template, home, time, 50 variables, directory, task range), job records and failures round-trip")
    func submissionInputs() throws {
        for inputs in Samples.inputs { try expectRoundTrip(inputs) }
        for record in Samples.records {
            try expectRoundTrip(record)
            let restored = record.restoredJob
            #expect(restored.id == record.jobID && restored.bulkJobID == record.bulkJobID && restored.state == record.state)
            #expect(restored.outcome == record.outcome)
        }
        for failure in Samples.failures { try expectRoundTrip(failure) }
    }

    @Test("truncating any value's encoding at any byte throws, never traps")
    func truncation() {
        for state in JobState.allCases { expectEveryTruncationThrows(state) }
        for error in Samples.errors { expectEveryTruncationThrows(error) }
        for termination in Samples.terminations { expectEveryTruncationThrows(termination) }
        for usage in Samples.usages { expectEveryTruncationThrows(usage) }
        for outcome in Samples.outcomes { expectEveryTruncationThrows(outcome) }
        for template in Samples.templates { expectEveryTruncationThrows(template) }
        for inputs in Samples.inputs { expectEveryTruncationThrows(inputs) }
        for record in Samples.records { expectEveryTruncationThrows(record) }
    }
}
