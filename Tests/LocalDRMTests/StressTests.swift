import DRMAACore
import Foundation
import LocalDRM
import Synchronization
import Testing

@Suite("LocalDRM under concurrent load", .timeLimit(.minutes(2)))
struct StressTests {
    @Test("8 threads submit, control and wait on 400 short jobs: each result delivered exactly once")
    func eightThreadsFourHundredJobs() throws {
        let f = try Fixture(slots: 4)
        let delivered = Mutex<[String: Int]>([:])
        let submitted = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            var mine: [String] = []
            for n in 0..<50 {
                var template = f.template(n % 5 == 0 ? "/bin/sleep" : "/bin/true", n % 5 == 0 ? ["0.05"] : [], output: nil)
                template.outputPath = ":/dev/null"
                template.errorPath = ":/dev/null"
                if n % 7 == 0 { template.jobSubmissionState = .hold }
                guard let id = try? f.session.runJob(template) else { continue }
                mine.append(id)
                switch n % 7 {
                case 0: try? f.session.control(id, n % 2 == 0 ? .release : .terminate)
                case 3: try? f.session.control(id, .suspend); try? f.session.control(id, .resume)
                case 5: try? f.session.control(id, .terminate)
                default: break
                }
            }
            submitted.withLock { $0 += mine }
            for id in mine {
                if let info = try? f.session.wait(id, timeout: .seconds(60)) {
                    delivered.withLock { $0[info.jobID, default: 0] += 1 }
                }
            }
        }
        let ids = submitted.withLock { $0 }
        let counts = delivered.withLock { $0 }
        #expect(ids.count == 400)
        #expect(Set(counts.keys) == Set(ids))
        #expect(counts.values.allSatisfy { $0 == 1 })
        #expect(throws: DRMAAError.self) { try f.session.wait(Session.jobIDsSessionAny, timeout: .noWait) }
    }
}
