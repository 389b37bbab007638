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
        try work.waitUntilReady()
        // The work is still blocked here: the caller went on before it ended.
        release.signal()
        #expect(try work.result() == 42)
    }

    @Test("work that throws before saying ready releases the caller with its error, and the result holds it too")
    func throwsBeforeReady() {
        let work = BesideWork<Int> { _ in throw Failure() }
        #expect(throws: Failure.self) { try work.waitUntilReady() }
        #expect(throws: Failure.self) { try work.result() }
    }

    @Test("work that throws after saying ready lets the caller go on; the error reaches the result")
    func throwsAfterReady() throws {
        let work = BesideWork<Int> { ready in
            ready()
            throw Failure()
        }
        try work.waitUntilReady()
        #expect(throws: Failure.self) { try work.result() }
    }
}
