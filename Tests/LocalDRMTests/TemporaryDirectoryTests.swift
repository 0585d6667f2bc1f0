import CTestSupport
import DRMAACore
import Foundation
import Glibc
@testable import LocalDRM
import Testing

@Suite("LocalDRM private TMPDIR of every job", .timeLimit(.minutes(2)))
struct TemporaryDirectoryTests {
    /// A fixture whose jobs' temporary directories are made in a fresh root, and that root
    /// (removed by the caller's `defer`).
    func fixture() throws -> (Fixture, String) {
        let root = NSTemporaryDirectory() + "drmaa-tmproot-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return (try Fixture { $0.temporaryRoot = root }, root)
    }

    @Test("a job gets a new 0700 TMPDIR named after it, under the configured root; it is gone when wait returns")
    func madeAndRemoved() throws {
        let (f, root) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let id = try f.session.runJob(f.shell("echo $TMPDIR > tmpdir; stat -c %a \"$TMPDIR\" > mode; touch \"$TMPDIR/file\""))
        let info = try f.session.wait(id)
        #expect(info.hasExited && info.exitStatus == 0)
        let tmpdir = f.read("tmpdir").trimmingCharacters(in: .newlines)
        #expect((tmpdir as NSString).lastPathComponent.hasPrefix("drmaa-job-\(id)-"))
        #expect(f.read("mode") == "700\n")
        #expect(!FileManager.default.fileExists(atPath: tmpdir))
        #expect(files(in: root).isEmpty)
    }

    @Test("everything in it goes, nested deeper than the descriptors held, but never what a symbolic link points to")
    func removedWithoutFollowingLinks() throws {
        let (f, root) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let outside = f.path("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "keep".write(toFile: outside + "/precious", atomically: true, encoding: .utf8)
        let script = """
            echo $TMPDIR > tmpdir; cd "$TMPDIR"
            ln -s \(outside) link; ln -s \(outside)/precious filelink; mkdir -p a/b; ln -s \(outside) a/b/link
            touch a/one a/b/two; mkfifo a/fifo
            d=deep; for i in $(seq 1 80); do d=$d/n; done; mkdir -p $d; touch $d/leaf
            """
        let info = try f.session.wait(try f.session.runJob(f.shell(script)))
        #expect(info.exitStatus == 0)
        let tmpdir = f.read("tmpdir").trimmingCharacters(in: .newlines)
        #expect(!FileManager.default.fileExists(atPath: tmpdir))
        #expect(files(in: outside) == ["precious"])
        #expect((try? String(contentsOfFile: outside + "/precious", encoding: .utf8)) == "keep")
        #expect(files(in: root).isEmpty)
    }

    @Test("a failure to remove it is not fatal: the job's outcome stands (here the job put another directory in its place)")
    func removalFailureNotFatal() throws {
        let (f, root) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let script = "echo $TMPDIR > tmpdir; mv $TMPDIR $TMPDIR.moved; mkdir $TMPDIR; touch $TMPDIR/other; exit 4"
        let info = try f.session.wait(try f.session.runJob(f.shell(script)))
        #expect(info.hasExited && info.exitStatus == 4 && !info.wasAborted && info.killReason == nil)
        let tmpdir = f.read("tmpdir").trimmingCharacters(in: .newlines)
        #expect(FileManager.default.fileExists(atPath: tmpdir + "/other"))
        #expect(FileManager.default.fileExists(atPath: tmpdir + ".moved"))
    }

    @Test("drmaa_v_env setting TMPDIR wins: the job sees it, and no private directory is made")
    func environmentTMPDIRWins() throws {
        let (f, root) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let own = f.path("mine")
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
        var template = f.shell("echo $TMPDIR > tmpdir; touch $TMPDIR/kept; ls -A \(root) > listing")
        template.jobEnvironment = ["TMPDIR": own]
        _ = try f.session.wait(try f.session.runJob(template))
        #expect(f.read("tmpdir") == own + "\n")
        #expect(FileManager.default.fileExists(atPath: own + "/kept"))
        #expect(f.read("listing") == "")
    }

    @Test("a TMPDIR that cannot be made fails the job with a reason naming where")
    func creationFailure() throws {
        let missing = "/nonexistent-drmaa-root-" + UUID().uuidString
        let f = try Fixture { $0.temporaryRoot = missing }
        let info = try f.session.wait(try f.session.runJob(f.template("/bin/true")))
        #expect(info.wasAborted && !info.hasExited)
        let reason = try #require(info.abortReason)
        #expect(reason.contains("TMPDIR") && reason.contains(missing) && reason.contains("No such file or directory"))
    }

    @Test("without a configured root: the submitter's $TMPDIR if absolute, else /tmp")
    func defaultRoot() {
        #expect(PrivateTemporaryDirectory.parent(forBase: nil) == "/tmp")
        #expect(PrivateTemporaryDirectory.parent(forBase: "") == "/tmp")
        #expect(PrivateTemporaryDirectory.parent(forBase: "relative") == "/tmp")
        #expect(PrivateTemporaryDirectory.parent(forBase: "/scratch") == "/scratch")
    }

    @Test("a tree far deeper than the passes could peel 32 levels at a time is removed whole")
    func veryDeepTreeRemoved() throws {
        let root = NSTemporaryDirectory() + "drmaa-tmproot-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { _ = system("rm -rf '\(root)'") }
        let made = try PrivateTemporaryDirectory.make(in: root, jobID: "7")
        // 5,000 levels (beyond PATH_MAX as a path), made one below the other through descriptors.
        var fd = open(made.path, O_RDONLY | O_DIRECTORY)
        try #require(fd >= 0)
        for _ in 0..<5000 {
            try #require(mkdirat(fd, "d", 0o700) == 0)
            let child = openat(fd, "d", O_RDONLY | O_DIRECTORY)
            close(fd)
            try #require(child >= 0)
            fd = child
        }
        close(openat(fd, "leaf", O_WRONLY | O_CREAT, 0o600))
        close(fd)
        #expect(made.remove() == nil)
        #expect(!FileManager.default.fileExists(atPath: made.path))
    }

    @Test("removal leaves alone a directory that is no longer the one made")
    func replacedDirectoryLeftAlone() throws {
        let root = NSTemporaryDirectory() + "drmaa-tmproot-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let made = try PrivateTemporaryDirectory.make(in: root, jobID: "7")
        // Moved away, not removed, so that the new directory cannot get its inode number.
        try FileManager.default.moveItem(atPath: made.path, toPath: made.path + ".old")
        try FileManager.default.createDirectory(atPath: made.path, withIntermediateDirectories: false)
        try "other".write(toFile: made.path + "/file", atomically: true, encoding: .utf8)
        #expect(made.remove()?.contains("no longer the directory") == true)
        #expect(FileManager.default.fileExists(atPath: made.path + "/file"))
    }

    @Test("a job that replaced its TMPDIR with a symbolic link: the link is removed, never what it points to")
    func symbolicLinkInItsPlace() throws {
        let (f, root) = try fixture()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let outside = f.path("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "keep".write(toFile: outside + "/precious", atomically: true, encoding: .utf8)
        for script in ["rmdir \"$TMPDIR\"; ln -s \(outside) \"$TMPDIR\"",
                       "touch \"$TMPDIR/f\"; mv \"$TMPDIR\" \"$TMPDIR.moved\"; ln -s \(outside) \"$TMPDIR\""] {
            let info = try f.session.wait(try f.session.runJob(f.shell("echo $TMPDIR > tmpdir; " + script)))
            #expect(info.exitStatus == 0)
            let tmpdir = f.read("tmpdir").trimmingCharacters(in: .newlines)
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: tmpdir)) == nil, "\(script)")
            #expect(files(in: outside) == ["precious"])
        }
        // The directory moved away is no longer the job's: it stays.
        #expect(files(in: root).count == 1 && files(in: root).allSatisfy { $0.hasSuffix(".moved") })
    }

    @Test("a link in place of the directory is removed, a file in its place left alone")
    func replacedByLinkOrFile() throws {
        let root = NSTemporaryDirectory() + "drmaa-tmproot-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { _ = system("rm -rf '\(root)'") }
        let linked = try PrivateTemporaryDirectory.make(in: root, jobID: "7")
        try FileManager.default.removeItem(atPath: linked.path)
        try FileManager.default.createSymbolicLink(atPath: linked.path, withDestinationPath: root)
        #expect(linked.remove() == nil)
        #expect(!files(in: root).contains(linked.name))
        let filed = try PrivateTemporaryDirectory.make(in: root, jobID: "8")
        try FileManager.default.removeItem(atPath: filed.path)
        try "job's".write(toFile: filed.path, atomically: false, encoding: .utf8)
        #expect(filed.remove()?.contains("no longer the directory") == true)
        #expect(FileManager.default.fileExists(atPath: filed.path))
    }

    /// What removal returns, run on a thread of its own without root's exemptions from file
    /// permissions (they are per thread, and the thread ends with it): as the user who owns the
    /// files would see it.
    private func removedAsOwnerWithoutPrivileges(_ directory: PrivateTemporaryDirectory) throws -> String? {
        final class Outcome: @unchecked Sendable {
            // @unchecked: written by the thread before it signals `done`, read only after the wait.
            var problem: String?
            var error: Int32 = 0
            let done = DispatchSemaphore(value: 0)
        }
        let outcome = Outcome()
        let thread = Thread {
            if ctestsupport_drop_file_capabilities() == 0 {
                outcome.problem = directory.remove()
            } else {
                outcome.error = errno
            }
            outcome.done.signal()
        }
        thread.start()
        outcome.done.wait()
        try #require(outcome.error == 0, "capset: \(String(cString: strerror(outcome.error)))")
        return outcome.problem
    }

    /// A new directory of job 7 in a fresh root, with `script` run in it by sh, and the root.
    private func tree(_ script: String) throws -> (PrivateTemporaryDirectory, String) {
        let root = NSTemporaryDirectory() + "drmaa-tmproot-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let made = try PrivateTemporaryDirectory.make(in: root, jobID: "7")
        try #require(system("cd '\(made.path)' && \(script)") == 0, "\(script)")
        return (made, root)
    }

    @Test("modes that keep the owner out (chmod 000 on it, 500 or 000 on a directory in it, …) are given back, and everything goes",
          arguments: [
              "touch a; chmod 000 .",
              "mkdir ro; touch ro/f; chmod 500 ro",
              "mkdir no; touch no/f; chmod 000 no",
              "mkdir -p no/deeper; touch no/deeper/f; chmod 000 no/deeper no",
              "mkdir wx rw; touch wx/f rw/f; chmod 300 wx; chmod 600 rw; chmod 500 .",
              "mkdir sticky; touch sticky/f; chmod 1500 sticky",
              "d=deep; for i in $(seq 1 40); do d=$d/n; done; mkdir -p $d; touch $d/leaf; chmod 500 deep/n/n/n $d; chmod 000 deep/n/n/n/n/n/n/n/n/n/n/n",
          ])
    func permissionsGivenBack(script: String) throws {
        let (made, root) = try tree(script)
        defer { _ = system("chmod -R u+rwx '\(root)' 2>/dev/null; rm -rf '\(root)'") }
        let problem = try removedAsOwnerWithoutPrivileges(made)
        #expect(problem == nil, "\(problem ?? "")")
        #expect(!FileManager.default.fileExists(atPath: made.path))
    }

    @Test("no mode is changed but inside the tree and on what is ours: not through a link, not another user's directory")
    func modesChangedOnlyOnOurs() throws {
        let outside = NSTemporaryDirectory() + "drmaa-outside-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: outside + "/locked", withIntermediateDirectories: true)
        defer { _ = system("chmod -R u+rwx '\(outside)'; rm -rf '\(outside)'") }
        try #require(chmod(outside + "/locked", 0o000) == 0)
        let (made, root) = try tree("""
            ln -s \(outside)/locked link; mkdir theirs; touch theirs/f; chown -R 65534 theirs; chmod 000 theirs; \
            mkdir mine; touch mine/f; chmod 000 mine
            """)
        defer { _ = system("chmod -R u+rwx '\(root)' 2>/dev/null; rm -rf '\(root)'") }
        let problem = try removedAsOwnerWithoutPrivileges(made)
        #expect(problem?.contains("theirs") == true, "\(problem ?? "")")
        #expect(files(in: made.path) == ["theirs"])
        var info = stat()
        #expect(lstat(made.path + "/theirs", &info) == 0 && info.st_mode & 0o7777 == 0)
        #expect(lstat(outside + "/locked", &info) == 0 && info.st_mode & 0o7777 == 0)
    }
}
