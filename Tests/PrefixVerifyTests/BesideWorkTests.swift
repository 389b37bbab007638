import Foundation
import Testing

@testable import PrefixVerify

/// The blob checks run beside a verification's compositions: the caller goes on once they say
/// so, and their result or error is collected at the end.
@Suite("Work beside the verification")
struct BesideWorkTests {
    struct Failure: Error, Equatable {}

    @Test("the caller goes on when the work says ready, before the work ends, and collects its value")
    func readyBeforeTheEnd() throws {
        let release = DispatchSemaphore(value: 0)
        let work = BesideWork<Int> { ready in
            ready()
            release.wait()
            return 42
        }
        work.waitUntilReady()
        // The work is still blocked here: the caller went on before it ended.
        release.signal()
        #expect(try work.result() == 42)
    }

    @Test("work that throws before saying ready still releases the caller, and the error reaches the result")
    func throwsBeforeReady() {
        let work = BesideWork<Int> { _ in throw Failure() }
        work.waitUntilReady()
        #expect(throws: Failure.self) { try work.result() }
    }
}
