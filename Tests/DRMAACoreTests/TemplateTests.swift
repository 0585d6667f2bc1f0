import Testing
@testable import DRMAACore

/// The 12 mandatory scalar attributes of the DRMAA 1.0 C binding.
let mandatoryScalarNames = [
    "drmaa_remote_command", "drmaa_js_state", "drmaa_wd", "drmaa_job_category",
    "drmaa_native_specification", "drmaa_block_email", "drmaa_start_time", "drmaa_job_name",
    "drmaa_input_path", "drmaa_output_path", "drmaa_error_path", "drmaa_join_files",
]
/// The optional scalar attributes of the C binding.
let optionalScalarNames = [
    "drmaa_transfer_files", "drmaa_deadline_time", "drmaa_wct_hlimit", "drmaa_wct_slimit",
    "drmaa_duration_hlimit", "drmaa_duration_slimit",
]
let vectorNames = ["drmaa_v_argv", "drmaa_v_env", "drmaa_v_email"]

/// A value each scalar attribute accepts at set time.
let validScalarValues: [String: [String]] = [
    "drmaa_remote_command": ["/bin/echo", "python", "a b/c d", "ünïcödé"],
    "drmaa_js_state": ["drmaa_active", "drmaa_hold"],
    "drmaa_wd": ["$drmaa_hd_ph$/sub", "/tmp", "relative/dir", ""],
    "drmaa_job_category": ["cat", ""],
    "drmaa_native_specification": ["-shell yes", "-l h_vmem=1G -q all.q"],
    "drmaa_block_email": ["0", "1"],
    "drmaa_start_time": ["16:47", "2002/09/03 16:47:00 +02:00", "not validated at set time"],
    "drmaa_job_name": ["job", String(repeating: "x", count: 300)],
    "drmaa_input_path": [":$drmaa_hd_ph$/pippo.in", "host:/dev/null"],
    "drmaa_output_path": [":$drmaa_hd_ph$/pippo.out", ":$drmaa_wd_ph$/out.$drmaa_incr_ph$"],
    "drmaa_error_path": [":/dev/null", "err.txt"],
    "drmaa_join_files": ["y", "n"],
    "drmaa_transfer_files": ["eio", "", "i", "oe"],
    "drmaa_deadline_time": ["23:59"],
    "drmaa_wct_hlimit": ["90", "1:30", "1:00:00"],
    "drmaa_wct_slimit": ["0"],
    "drmaa_duration_hlimit": ["0:90"],
    "drmaa_duration_slimit": ["12:00:00"],
]

@Suite("Job templates", .timeLimit(.minutes(1)))
struct TemplateTests {
    @Test("§10.17 an unsupported attribute name is INVALID_ARGUMENT", arguments: [
        "drmaa_bogus", "", "DRMAA_REMOTE_COMMAND", "drmaa_remote_command ", "drmaa_submit_as_euid",
    ])
    func item17_unsupportedName(_ name: String) {
        var template = JobTemplate()
        expectDRMAAError(.invalidArgument) { try template.setAttribute(name, "x") }
        expectDRMAAError(.invalidArgument) { try template.attribute(name) }
        expectDRMAAError(.invalidArgument) { try template.setVectorAttribute(name, ["x"]) }
        expectDRMAAError(.invalidArgument) { try template.vectorAttribute(name) }
        #expect(template == JobTemplate())
    }

    @Test("§10.18 a vector name via setAttribute and a scalar name via setVectorAttribute are INVALID_ARGUMENT")
    func item18_wrongKind() {
        var template = JobTemplate()
        for name in vectorNames {
            expectDRMAAError(.invalidArgument) { try template.setAttribute(name, "x") }
            expectDRMAAError(.invalidArgument) { try template.attribute(name) }
        }
        for name in mandatoryScalarNames + optionalScalarNames {
            expectDRMAAError(.invalidArgument) { try template.setVectorAttribute(name, ["x"]) }
            expectDRMAAError(.invalidArgument) { try template.vectorAttribute(name) }
        }
        #expect(template.setAttributeNames.isEmpty)
    }

    @Test("§10.19 getting an unset attribute is INVALID_ATTRIBUTE_VALUE")
    func item19_unsetAttribute() {
        let template = JobTemplate()
        for name in AttributeName.scalarNames {
            expectDRMAAError(.invalidAttributeValue) { try template.attribute(name) }
        }
        for name in AttributeName.vectorNames {
            expectDRMAAError(.invalidAttributeValue) { try template.vectorAttribute(name) }
        }
    }

    @Test("§10.20 every supported scalar attribute round-trips byte-exactly")
    func item20_scalarRoundTrip() throws {
        for name in AttributeName.scalarNames {
            let values = try #require(validScalarValues[name], "no sample value for \(name)")
            for value in values {
                var template = JobTemplate()
                try template.setAttribute(name, value)
                let back = try template.attribute(name)
                #expect(Array(back.utf8) == Array(value.utf8), "\(name)")
                #expect(template.setAttributeNames == [name])
            }
        }
    }

    @Test("§10.21 setting an attribute twice keeps the last value")
    func item21_lastValueWins() throws {
        var template = JobTemplate()
        try template.setAttribute("drmaa_job_name", "first")
        try template.setAttribute("drmaa_job_name", "second")
        #expect(try template.attribute("drmaa_job_name") == "second")
        try template.setAttribute("drmaa_js_state", "drmaa_hold")
        try template.setAttribute("drmaa_js_state", "drmaa_active")
        #expect(try template.attribute("drmaa_js_state") == "drmaa_active")
        #expect(template.jobSubmissionState == .active)
        try template.setVectorAttribute("drmaa_v_argv", ["a", "b"])
        try template.setVectorAttribute("drmaa_v_argv", ["c"])
        #expect(try template.vectorAttribute("drmaa_v_argv") == ["c"])
    }

    @Test("§10.21 a rejected value leaves the previous value in place")
    func item21_rejectedValueKeepsOld() throws {
        var template = JobTemplate()
        try template.setAttribute("drmaa_join_files", "y")
        expectDRMAAError(.invalidAttributeValue) { try template.setAttribute("drmaa_join_files", "yes") }
        #expect(try template.attribute("drmaa_join_files") == "y")
    }

    @Test("§10.22 drmaa_js_state accepts only drmaa_active/drmaa_hold", arguments: [
        "x", "", "active", "hold", "DRMAA_HOLD", "drmaa_hold ", "drmaa_suspended",
    ])
    func item22_jsStateValidation(_ bad: String) throws {
        var template = JobTemplate()
        try template.setAttribute("drmaa_js_state", "drmaa_active")
        #expect(try template.attribute("drmaa_js_state") == "drmaa_active")
        try template.setAttribute("drmaa_js_state", "drmaa_hold")
        #expect(template.jobSubmissionState == .hold)
        expectDRMAAError(.invalidAttributeValue) { try template.setAttribute("drmaa_js_state", bad) }
        #expect(try template.attribute("drmaa_js_state") == "drmaa_hold")
    }

    @Test("§10.23 drmaa_join_files accepts only y/n", arguments: ["yes", "", "Y", "N", "no", "1", "yn"])
    func item23_joinFilesValidation(_ bad: String) throws {
        var template = JobTemplate()
        try template.setAttribute("drmaa_join_files", "y")
        #expect(template.joinFiles)
        try template.setAttribute("drmaa_join_files", "n")
        #expect(!template.joinFiles)
        expectDRMAAError(.invalidAttributeValue) { try template.setAttribute("drmaa_join_files", bad) }
    }

    @Test("§10.24 drmaa_block_email \"1\" and \"0\" round-trip; other values are INVALID_ATTRIBUTE_VALUE")
    func item24_blockEmail() throws {
        var template = JobTemplate()
        try template.setAttribute("drmaa_block_email", "1")
        #expect(try template.attribute("drmaa_block_email") == "1")
        #expect(template.blockEmail)
        try template.setAttribute("drmaa_block_email", "0")
        #expect(try template.attribute("drmaa_block_email") == "0")
        #expect(!template.blockEmail)
        template.blockEmail = true
        #expect(try template.attribute("drmaa_block_email") == "1")
        for bad in ["2", "", "true", "yes", "01"] {
            expectDRMAAError(.invalidAttributeValue) { try template.setAttribute("drmaa_block_email", bad) }
        }
    }

    @Test("§10.25 drmaa_transfer_files accepts combinations of i, o, e; other letters are INVALID_ATTRIBUTE_VALUE")
    func item25_transferFiles() throws {
        var template = JobTemplate()
        for good in ["eio", "", "i", "o", "e", "oi", "eeii"] {
            try template.setAttribute("drmaa_transfer_files", good)
            #expect(try template.attribute("drmaa_transfer_files") == good)
        }
        for bad in ["x", "eiox", "I", " e", "i,o"] {
            expectDRMAAError(.invalidAttributeValue) { try template.setAttribute("drmaa_transfer_files", bad) }
        }
        // Supported, so listed.
        #expect(AttributeName.scalarNames.contains("drmaa_transfer_files"))
    }

    @Test("§10.26 attribute names list the 12 mandatory scalars, and an optional name iff setAttribute accepts it")
    func item26_attributeNames() throws {
        let names = AttributeName.scalarNames
        for name in mandatoryScalarNames {
            #expect(names.contains(name), "\(name) missing")
        }
        #expect(Set(names).count == names.count)
        for name in vectorNames { #expect(!names.contains(name)) }
        for name in optionalScalarNames {
            var template = JobTemplate()
            let value = validScalarValues[name]?.first ?? "1"
            let accepted = (try? template.setAttribute(name, value)) != nil
            #expect(accepted == names.contains(name), "\(name): accepted \(accepted), listed \(names.contains(name))")
        }
        // Every listed name is accepted by setAttribute.
        for name in names {
            var template = JobTemplate()
            let value = try #require(validScalarValues[name]?.first)
            try template.setAttribute(name, value)
        }
        for attribute in AttributeName.allCases {
            #expect(attribute.isMandatory == !optionalScalarNames.contains(attribute.rawValue))
        }
    }

    @Test("§10.27 vector attribute names are drmaa_v_argv, drmaa_v_env, drmaa_v_email")
    func item27_vectorNames() {
        #expect(Set(AttributeName.vectorNames) == Set(vectorNames))
        #expect(AttributeName.vectorNames.count == 3)
        for name in vectorNames { #expect(AttributeName(rawValue: name)?.isVector == true) }
    }

    @Test("§10.28 vector attributes round-trip in order; an empty vector is accepted")
    func item28_vectorRoundTrip() throws {
        var template = JobTemplate()
        let argv = ["z", "a", "with space", "\"quoted\"", "$HOME", "*", "", "a"]
        try template.setVectorAttribute("drmaa_v_argv", argv)
        #expect(try template.vectorAttribute("drmaa_v_argv") == argv)
        #expect(template.args == argv)
        let env = ["B=2", "A=1", "C=x=y", "NOVALUE", "A=3"]
        try template.setVectorAttribute("drmaa_v_env", env)
        #expect(try template.vectorAttribute("drmaa_v_env") == env)
        try template.setVectorAttribute("drmaa_v_email", ["b@example.org", "a@example.org"])
        #expect(try template.vectorAttribute("drmaa_v_email") == ["b@example.org", "a@example.org"])
        for name in vectorNames {
            try template.setVectorAttribute(name, [])
            #expect(try template.vectorAttribute(name) == [])
        }
        #expect(Set(template.setAttributeNames) == Set(vectorNames))
    }

    @Test("§10.32 an empty string for a time-limit attribute (drmaa-python's int setter) is INVALID_ATTRIBUTE_FORMAT")
    func item32_emptyTimeLimit() {
        var template = JobTemplate()
        for name in ["drmaa_wct_hlimit", "drmaa_wct_slimit", "drmaa_duration_hlimit", "drmaa_duration_slimit"] {
            let error = expectDRMAAError(.invalidAttributeFormat) { try template.setAttribute(name, "") }
            #expect(error?.message.contains(name) == true)
            expectDRMAAError(.invalidAttributeFormat) { try template.setAttribute(name, "\0\0") }
            expectDRMAAError(.invalidAttributeValue) { try template.attribute(name) }
        }
    }

    @Test("Typed properties and attribute names are two views of the same values")
    func typedPropertiesMatchNames() throws {
        var template = JobTemplate()
        template.remoteCommand = "/bin/echo"
        template.workingDirectory = "$drmaa_hd_ph$/w"
        template.jobCategory = "cat"
        template.nativeSpecification = "-shell yes"
        template.startTime = "10:00"
        template.jobName = "name"
        template.inputPath = ":in"
        template.outputPath = ":out"
        template.errorPath = ":err"
        template.deadlineTime = "11:00"
        template.jobSubmissionState = .hold
        template.joinFiles = true
        template.blockEmail = false
        template.hardWallclockTimeLimit = 90
        template.email = ["a@b"]
        template.jobEnvironment = ["K": "v=w", "A": ""]
        #expect(try template.attribute("drmaa_remote_command") == "/bin/echo")
        #expect(try template.attribute("drmaa_wd") == "$drmaa_hd_ph$/w")
        #expect(try template.attribute("drmaa_job_category") == "cat")
        #expect(try template.attribute("drmaa_native_specification") == "-shell yes")
        #expect(try template.attribute("drmaa_start_time") == "10:00")
        #expect(try template.attribute("drmaa_job_name") == "name")
        #expect(try template.attribute("drmaa_input_path") == ":in")
        #expect(try template.attribute("drmaa_output_path") == ":out")
        #expect(try template.attribute("drmaa_error_path") == ":err")
        #expect(try template.attribute("drmaa_deadline_time") == "11:00")
        #expect(try template.attribute("drmaa_js_state") == "drmaa_hold")
        #expect(try template.attribute("drmaa_join_files") == "y")
        #expect(try template.attribute("drmaa_block_email") == "0")
        #expect(try template.attribute("drmaa_wct_hlimit") == "90")
        #expect(try template.vectorAttribute("drmaa_v_email") == ["a@b"])
        #expect(Set(try template.vectorAttribute("drmaa_v_env")) == ["K=v=w", "A="])
        #expect(template.jobEnvironment == ["K": "v=w", "A": ""])

        try template.setAttribute("drmaa_wct_slimit", "1:30")
        #expect(template.softWallclockTimeLimit == 90)
        try template.setAttribute("drmaa_duration_hlimit", "1:00:00")
        #expect(template.hardRunDurationLimit == 3600)
        #expect(template.softRunDurationLimit == nil)

        template.remoteCommand = nil
        expectDRMAAError(.invalidAttributeValue) { try template.attribute("drmaa_remote_command") }
    }

    @Test("A job template is a value: copies are independent")
    func templateIsValue() throws {
        var a = JobTemplate()
        try a.setAttribute("drmaa_job_name", "a")
        var b = a
        try b.setAttribute("drmaa_job_name", "b")
        #expect(try a.attribute("drmaa_job_name") == "a")
        #expect(try b.attribute("drmaa_job_name") == "b")
        #expect(a != b)
    }
}

@Suite("Time amounts [[h:]m:]s", .timeLimit(.minutes(1)))
struct TimeAmountTests {
    @Test("Valid time amounts", arguments: [
        ("90", 90), ("1:30", 90), ("1:00:00", 3600), ("0:90", 90), ("0", 0), ("00:00:00", 0),
        ("2:03:04", 7384), ("0:0:59", 59), ("1:90:90", 3600 + 5400 + 90), ("007", 7),
    ])
    func valid(_ text: String, _ seconds: Int) throws {
        #expect(try TimeAmount.parse(text) == seconds)
        var template = JobTemplate()
        try template.setAttribute("drmaa_wct_hlimit", text)
        #expect(try template.attribute("drmaa_wct_hlimit") == text)
        #expect(template.hardWallclockTimeLimit == seconds)
    }

    @Test("Malformed time amounts are INVALID_ATTRIBUTE_FORMAT", arguments: [
        "", "a", "1:", ":1", "1::2", "1:2:3:4", "-5", "+5", " 5", "5 ", "1.5", "1:3a", "0x10",
        "١٢", "99999999999999999999",
    ])
    func malformed(_ text: String) {
        expectDRMAAError(.invalidAttributeFormat) { try TimeAmount.parse(text) }
        var template = JobTemplate()
        for name in ["drmaa_wct_hlimit", "drmaa_wct_slimit", "drmaa_duration_hlimit", "drmaa_duration_slimit"] {
            expectDRMAAError(.invalidAttributeFormat) { try template.setAttribute(name, text) }
        }
        #expect(template.setAttributeNames.isEmpty)
    }

    @Test("Every limit a typed property stores reads back, however many digits it has", arguments: [
        999_999_999_999, 1_000_000_000_000, 3_599_999_999_999_999, Int.max,
    ])
    func largeLimitsReadBack(_ seconds: Int) throws {
        var template = JobTemplate()
        template.hardWallclockTimeLimit = seconds
        #expect(template.hardWallclockTimeLimit == seconds)
        #expect(try TimeAmount.parse(String(seconds)) == seconds)
        try template.setAttribute("drmaa_duration_hlimit", String(seconds))
        #expect(template.hardRunDurationLimit == seconds)
        #expect(try TimeAmount.parse("0000000000000000000000\(seconds)") == seconds)
    }

    @Test("Time amounts beyond Int.max seconds are INVALID_ATTRIBUTE_FORMAT", arguments: [
        "9223372036854775808", "2562047788015216:00:00", "153722867280912931:00",
    ])
    func tooLarge(_ text: String) {
        expectDRMAAError(.invalidAttributeFormat) { try TimeAmount.parse(text) }
    }
}
