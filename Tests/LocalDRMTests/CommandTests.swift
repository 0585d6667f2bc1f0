import DRMAACore
import Glibc
import LocalDRM
import Testing

@Suite("Command: a resource manager's commands as child processes", .timeLimit(.minutes(1)))
struct CommandTests {
    @Test("output far larger than a pipe arrives whole (the child's end of the pipe is blocking)")
    func largeOutput() throws {
        let sh = try #require(Command.find("sh"))
        // 1 MiB on stdout and 300 kB on stderr, written as fast as the child can.
        let result = try Command.run(sh, ["-c", "head -c 1048576 /dev/zero | tr '\\0' x; head -c 300000 /dev/zero | tr '\\0' y >&2"], timeout: 30)
        #expect(result.exitStatus == 0)
        #expect(result.output.count == 1_048_576 && result.output.allSatisfy { $0 == UInt8(ascii: "x") })
        #expect(result.errorOutput.count == 300_000)
    }

    @Test("a command that closes its output and then hangs is killed at its timeout, not waited for forever")
    func closedOutputThenHang() throws {
        let sh = try #require(Command.find("sh"))
        do {
            _ = try Command.run(sh, ["-c", "exec >&- 2>&-; exec sleep 30"], timeout: 1)
            Issue.record("the command must time out")
        } catch {
            #expect(error.code == .drmCommunicationFailure)
            #expect(error.message.contains("did not finish within 1 s"), "\(error.message)")
        }
    }

    @Test("environment overrides reach the command; an empty PATH entry is not the current directory")
    func environmentAndPath() throws {
        let sh = try #require(Command.find("sh"))
        let result = try Command.run(sh, ["-c", "printf %s \"$DRMAA_COMMAND_TEST\""], environment: ["DRMAA_COMMAND_TEST": "a b"], timeout: 30)
        #expect(result.outputText == "a b")
        #expect(Command.find("no-such-command-drmaa") == nil)
    }
}
