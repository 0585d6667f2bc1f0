import Testing
@testable import DRMAACore
import EmbeddedDRM

/// Submits one job with the given scalar attributes and returns what the backend received.
private func submitted(_ attributes: [String: String], home: String = "/home/tester") throws -> JobRequest {
    let (session, system) = try makeSession(home: home)
    var template = commandTemplate()
    for (name, value) in attributes { try template.setAttribute(name, value) }
    _ = try session.runJob(template)
    return try #require(try system.lastRequests().first)
}

@Suite("Placeholders and paths", .timeLimit(.minutes(1)))
struct PlaceholderTests {
    @Test("§10.37 without drmaa_wd the working directory is the home directory")
    func item37_defaultWorkingDirectory() throws {
        #expect(try submitted([:]).workingDirectory == "/home/tester")
        #expect(try submitted([:], home: "/users/else").workingDirectory == "/users/else")
    }

    @Test("§10.38 drmaa_wd = \"$drmaa_hd_ph$/sub\" is home/sub", arguments: [
        ("$drmaa_hd_ph$/sub", "/home/tester/sub"),
        ("$drmaa_hd_ph$", "/home/tester"),
        ("$drmaa_hd_ph$sub", "/home/tester/sub"),
        ("$drmaa_hd_ph$/a/b/", "/home/tester/a/b/"),
        ("/scratch/run", "/scratch/run"),
        ("work", "/home/tester/work"),
        ("a/b", "/home/tester/a/b"),
        ("/x/$drmaa_hd_ph$", "/x/$drmaa_hd_ph$"),
        ("/x/$drmaa_hd_ph$/y", "/x/$drmaa_hd_ph$/y"),
    ])
    func item38_workingDirectory(_ wd: String, _ expected: String) throws {
        #expect(try submitted(["drmaa_wd": wd]).workingDirectory == expected)
    }

    @Test("A home directory ending in '/' gives no double slash")
    func homeWithTrailingSlash() throws {
        #expect(try submitted(["drmaa_wd": "rel"], home: "/home/t/").workingDirectory == "/home/t/rel")
        #expect(try submitted(["drmaa_output_path": "o"], home: "/").outputPath == "/o")
    }

    @Test("§10.38 $drmaa_wd_ph$ in drmaa_wd is DENIED_BY_DRM", arguments: [
        "$drmaa_wd_ph$", "$drmaa_wd_ph$/x", "/x/$drmaa_wd_ph$",
    ])
    func item38_wdPlaceholderInWdDenied(_ wd: String) throws {
        let (session, system) = try makeSession()
        var template = commandTemplate()
        template.workingDirectory = wd
        expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
        expectDRMAAError(.deniedByDRM) { try session.runBulkJobs(template, beginIndex: 1, endIndex: 2, step: 1) }
        #expect(try system.requireBackend().submitted.isEmpty)
    }

    @Test("§10.39 output path \":$drmaa_wd_ph$/out\" is wd/out; elsewhere the placeholder stays literal", arguments: [
        (":$drmaa_wd_ph$/out", "/w/out"),
        ("$drmaa_wd_ph$/out", "/w/out"),
        ("host:$drmaa_wd_ph$/out", "/w/out"),
        (":$drmaa_wd_ph$", "/w"),
        (":$drmaa_wd_ph$out", "/w/out"),
        (":/tmp/$drmaa_wd_ph$/out", "/tmp/$drmaa_wd_ph$/out"),
        (":x$drmaa_wd_ph$", "/w/x$drmaa_wd_ph$"),
        (":$drmaa_hd_ph$/pippo.out", "/home/tester/pippo.out"),
        ("node7:$drmaa_hd_ph$/o", "/home/tester/o"),
        (":/abs/file", "/abs/file"),
        ("somehost:/abs/file", "/abs/file"),
        (":rel/file", "/w/rel/file"),
        ("rel.out", "/w/rel.out"),
        ("/bare/absolute", "/bare/absolute"),
        ("h:/a:b", "/a:b"),
        (":/dev/null", "/dev/null"),
    ])
    func item39_pathExpansion(_ path: String, _ expected: String) throws {
        for attribute in ["drmaa_output_path", "drmaa_error_path", "drmaa_input_path"] {
            let request = try submitted(["drmaa_wd": "/w", attribute: path])
            let actual = switch attribute {
            case "drmaa_output_path": request.outputPath
            case "drmaa_error_path": request.errorPath
            default: request.inputPath
            }
            #expect(actual == expected, "\(attribute) = '\(path)'")
        }
    }

    @Test("§10.39 paths use the resolved working directory (placeholders and relative wd expanded first)")
    func item39_pathsUseResolvedWd() throws {
        let request = try submitted([
            "drmaa_wd": "$drmaa_hd_ph$/jobs",
            "drmaa_output_path": ":$drmaa_wd_ph$/out",
            "drmaa_error_path": "err",
        ])
        #expect(request.workingDirectory == "/home/tester/jobs")
        #expect(request.outputPath == "/home/tester/jobs/out")
        #expect(request.errorPath == "/home/tester/jobs/err")
        let relative = try submitted(["drmaa_wd": "run", "drmaa_output_path": ":$drmaa_wd_ph$/o"])
        #expect(relative.outputPath == "/home/tester/run/o")
        let defaultWd = try submitted(["drmaa_input_path": ":in"])
        #expect(defaultWd.inputPath == "/home/tester/in")
    }

    @Test("A path that names no file (\":\" or \"\") is DENIED_BY_DRM", arguments: [":", "", "host:"])
    func emptyPathDenied(_ path: String) throws {
        let (session, _) = try makeSession()
        var template = commandTemplate()
        template.outputPath = path
        expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
    }

    @Test("Placeholders are not expanded in the command, job name, native specification or environment")
    func placeholdersOnlyInPaths() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate("$drmaa_hd_ph$/bin/tool", ["$drmaa_hd_ph$"])
        template.jobName = "$drmaa_hd_ph$"
        template.nativeSpecification = "$drmaa_wd_ph$"
        template.jobEnvironment = ["X": "$drmaa_hd_ph$"]
        _ = try session.runJob(template)
        let request = try system.lastRequests()[0]
        #expect(request.remoteCommand == "$drmaa_hd_ph$/bin/tool")
        #expect(request.jobName == "$drmaa_hd_ph$")
        #expect(request.nativeSpecification == "$drmaa_wd_ph$")
        #expect(request.environment.first?.value == "$drmaa_hd_ph$")
        // The template keeps the literal text.
        var paths = commandTemplate()
        paths.outputPath = ":$drmaa_hd_ph$/o"
        _ = try session.runJob(paths)
        #expect(paths.outputPath == ":$drmaa_hd_ph$/o")
    }

    @Test("§10.40 $drmaa_incr_ph$ in a single job's wd or path is DENIED_BY_DRM", arguments: [
        "drmaa_wd", "drmaa_input_path", "drmaa_output_path", "drmaa_error_path",
    ])
    func item40_incrInSingleJobDenied(_ attribute: String) throws {
        let (session, system) = try makeSession()
        var template = commandTemplate()
        try template.setAttribute(attribute, attribute == "drmaa_wd" ? "/w/$drmaa_incr_ph$" : ":out.$drmaa_incr_ph$")
        let error = expectDRMAAError(.deniedByDRM) { try session.runJob(template) }
        #expect(error?.message.contains(attribute) == true)
        #expect(try system.requireBackend().submitted.isEmpty)
        // The same template is fine for a bulk job.
        let ids = try session.runBulkJobs(template, beginIndex: 1, endIndex: 2, step: 1)
        #expect(ids.count == 2)
    }

    @Test("§10.46 $drmaa_incr_ph$ is replaced per task in bulk jobs, every occurrence, anywhere in the path")
    func item46_incrPerTask() throws {
        let (session, system) = try makeSession()
        var template = commandTemplate()
        template.workingDirectory = "$drmaa_hd_ph$/run$drmaa_incr_ph$"
        template.outputPath = ":$drmaa_wd_ph$/out.$drmaa_incr_ph$"
        template.errorPath = ":/logs/$drmaa_incr_ph$/err.$drmaa_incr_ph$"
        template.inputPath = "$drmaa_incr_ph$.in"
        let ids = try session.runBulkJobs(template, beginIndex: 2, endIndex: 12, step: 5)
        #expect(ids.count == 3)
        let requests = try system.lastRequests()
        #expect(requests.map(\.workingDirectory) == ["/home/tester/run2", "/home/tester/run7", "/home/tester/run12"])
        #expect(requests.map(\.outputPath) == ["/home/tester/run2/out.2", "/home/tester/run7/out.7", "/home/tester/run12/out.12"])
        #expect(requests.map(\.errorPath) == ["/logs/2/err.2", "/logs/7/err.7", "/logs/12/err.12"])
        #expect(requests.map(\.inputPath) == ["/home/tester/run2/2.in", "/home/tester/run7/7.in", "/home/tester/run12/12.in"])
        // The template keeps the literal text.
        #expect(template.outputPath == ":$drmaa_wd_ph$/out.$drmaa_incr_ph$")
    }

    @Test("the host part of a path is ignored, also when it contains $drmaa_incr_ph$ (a single job may use it there)")
    func hostPartIgnored() throws {
        #expect(try submitted(["drmaa_output_path": "$drmaa_incr_ph$:/tmp/o"]).outputPath == "/tmp/o")
        #expect(try submitted(["drmaa_error_path": "node7:/tmp/e"]).errorPath == "/tmp/e")
    }

    @Test("Placeholder constants have their C values")
    func placeholderConstants() {
        #expect(Placeholder.taskIndex == "$drmaa_incr_ph$")
        #expect(Placeholder.homeDirectory == "$drmaa_hd_ph$")
        #expect(Placeholder.workingDirectory == "$drmaa_wd_ph$")
        #expect(Session.jobIDsSessionAny == "DRMAA_JOB_IDS_SESSION_ANY")
        #expect(Session.jobIDsSessionAll == "DRMAA_JOB_IDS_SESSION_ALL")
        #expect(SubmissionState.active.rawValue == "drmaa_active")
        #expect(SubmissionState.hold.rawValue == "drmaa_hold")
    }
}
