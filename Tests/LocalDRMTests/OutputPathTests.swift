import DRMAACore
import Foundation
import Glibc
import LocalDRM
import Testing

/// The files of a directory, sorted.
func files(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}

@Suite("LocalDRM output, error and input paths naming a directory; default file names", .timeLimit(.minutes(2)))
struct OutputPathTests {
    /// A template whose output and error paths are the directory `logs` in home (Snakemake's --drmaa-log-dir).
    func logDirectoryTemplate(_ f: Fixture, _ script: String) throws -> JobTemplate {
        try FileManager.default.createDirectory(atPath: f.path("logs"), withIntermediateDirectories: true)
        var template = f.shell(script)
        template.outputPath = ":" + f.path("logs")
        template.errorPath = ":" + f.path("logs")
        template.jobName = "rule_a"
        return template
    }

    @Test("an output and error path naming an existing directory writes <job name>.o<id> and .e<id> inside it (Grid Engine's rule)")
    func directoryAsOutputAndError() throws {
        let f = try Fixture()
        let id = try f.session.runJob(try logDirectoryTemplate(f, "echo out; echo err >&2"))
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus == 0 && !info.wasAborted)
        #expect(files(in: f.path("logs")) == ["rule_a.e\(id)", "rule_a.o\(id)"])
        #expect(f.read("logs/rule_a.o\(id)") == "out\n")
        #expect(f.read("logs/rule_a.e\(id)") == "err\n")
    }

    @Test("a directory given with a trailing slash, and $drmaa_wd_ph$ alone, mean the same")
    func directorySpellings() throws {
        let f = try Fixture()
        try FileManager.default.createDirectory(atPath: f.path("wd"), withIntermediateDirectories: true)
        var template = f.shell("echo here")
        template.workingDirectory = f.path("wd")
        template.outputPath = ":$drmaa_wd_ph$"
        template.errorPath = ":" + f.path("wd") + "/"
        template.jobName = "n"
        let id = try f.session.runJob(template)
        #expect(try f.session.wait(id).exitStatus == 0)
        #expect(files(in: f.path("wd")) == ["n.e\(id)", "n.o\(id)"])
        #expect(f.read("wd/n.o\(id)") == "here\n")
    }

    @Test("bulk tasks with a directory as output path write <job name>.o<id>.<task> inside it")
    func directoryForBulkTasks() throws {
        let f = try Fixture()
        let template = try logDirectoryTemplate(f, "echo task $DRMAA_TASK_ID")
        let ids = try f.session.runBulkJobs(template, beginIndex: 1, endIndex: 3, step: 2)
        try f.session.synchronize(ids, dispose: true)
        let bulk = ids[0].split(separator: ".")[0]
        #expect(files(in: f.path("logs")) == ["rule_a.e\(bulk).1", "rule_a.e\(bulk).3", "rule_a.o\(bulk).1", "rule_a.o\(bulk).3"])
        #expect(f.read("logs/rule_a.o\(bulk).3") == "task 3\n")
    }

    @Test("joined files with a directory as output path: one <job name>.o<id> file holds both streams")
    func directoryWithJoinedFiles() throws {
        let f = try Fixture()
        var template = try logDirectoryTemplate(f, "echo out; echo err >&2")
        template.joinFiles = true
        let id = try f.session.runJob(template)
        _ = try f.session.wait(id)
        #expect(files(in: f.path("logs")) == ["rule_a.o\(id)"])
        #expect(f.read("logs/rule_a.o\(id)") == "out\nerr\n")
    }

    @Test("an input path naming a directory: FAILED, and the reason names the directory (Grid Engine refuses it too)")
    func directoryAsInput() throws {
        let f = try Fixture()
        var template = f.template("/bin/cat")
        template.inputPath = ":" + f.home
        let info = try f.session.wait(try f.session.runJob(template))
        #expect(info.wasAborted && !info.hasExited)
        #expect(info.abortReason?.contains("'\(f.home)' is a directory") == true)
    }

    @Test("a 300-byte job name is shortened to fit NAME_MAX between characters, keeping .o<id>")
    func longJobName() throws {
        let f = try Fixture()
        var template = f.shell("echo long")
        template.outputPath = nil
        template.errorPath = nil
        template.jobName = String(repeating: "é", count: 150)  // 300 bytes of UTF-8
        let id = try f.session.runJob(template)
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus == 0)
        let names = files(in: f.home)
        let output = try #require(names.first { $0.hasSuffix(".o\(id)") })
        #expect(output.utf8.count <= 255 && output.utf8.count >= 254)
        #expect(output == String(repeating: "é", count: (255 - ".o\(id)".utf8.count) / 2) + ".o\(id)")
        #expect(f.read(output) == "long\n")
        #expect(names.contains { $0.hasSuffix(".e\(id)") })
        #expect(info.abortReason == nil)
    }

    @Test("an empty job name names the files after the command, not hidden .o<id> files")
    func emptyJobName() throws {
        let f = try Fixture()
        var template = f.template("/bin/echo", ["named"], output: nil)
        template.errorPath = nil
        template.jobName = ""
        let id = try f.session.runJob(template)
        _ = try f.session.wait(id)
        #expect(f.read("echo.o\(id)") == "named\n")
        #expect(!files(in: f.home).contains { $0.hasPrefix(".") })
    }

    @Test("a path that grows too long in a directory: FAILED, the reason names the path and says why")
    func pathTooLong() throws {
        let f = try Fixture()
        // A directory whose path is near PATH_MAX: the default name inside it makes it too long.
        var deep = f.path("d")
        while deep.utf8.count < 3900 { deep += "/" + String(repeating: "x", count: min(200, 3990 - deep.utf8.count)) }
        #expect(deep.utf8.count + 205 > Int(PATH_MAX) && deep.utf8.count < Int(PATH_MAX))
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        var template = f.template("/bin/true")
        template.outputPath = ":" + deep
        template.jobName = String(repeating: "n", count: 200)
        let info = try f.session.wait(try f.session.runJob(template))
        #expect(info.wasAborted)
        let reason = try #require(info.abortReason)
        #expect(reason.contains("File name too long"))
        #expect(reason.contains(deep + "/" + String(repeating: "n", count: 200) + ".o"))
    }
}
