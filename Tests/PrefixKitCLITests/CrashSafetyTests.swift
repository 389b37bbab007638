import Foundation
import PrefixKit
import TestSupport
import Testing

/// `kill -9` at every crash point of a save (a new base and two checkpoints) leaves every earlier
/// checkpoint intact and no partial checkpoint visible; `gc` then removes the leftovers.
@Suite("Crash safety")
struct CrashSafetyTests {
    private let small = ["--layers", "2", "--width", "8", "--heads", "2", "--prefix-length", "4", "--input-length", "6"]

    @Test("a save killed at each of 30+ points never damages the store")
    func killedSaves() throws {
        let dir = TemporaryDirectory()
        let pristine = dir.path + "/pristine"
        let first = try Processes.prefixkit(["demo", "--store", pristine, "--checkpoints", "1", "--seed", "1"] + small)
        #expect(first.status == 0, "\(first.stderr)")
        let before = try Store.open(at: pristine)
        let earlier = try before.load(before.checkpoint("demo@1"), verify: true)
        let earlierBase = try before.load(before.bases()[0], verify: true)
        let baseFingerprint = try before.bases()[0].fingerprint

        var killPoint = 1
        var kills = 0
        while killPoint < 500 {
            let store = dir.path + "/run-\(killPoint)"
            try FileManager.default.copyItem(atPath: pristine, toPath: store)
            defer { try? FileManager.default.removeItem(atPath: store) }
            // A second save adds a new base (another seed) and two checkpoints on it.
            let run = try Processes.prefixkit(["demo", "--store", store, "--checkpoints", "2", "--seed", "2"] + small,
                                              environment: ["PREFIXKIT_FAULT_KILL_AT": "\(killPoint)"])
            if run.signal == nil {
                #expect(run.status == 0, "the unkilled run failed: \(run.stderr)")
                break
            }
            #expect(run.signal == SIGKILL)
            kills += 1
            let after = try Store.open(at: store)
            // Earlier state: intact, byte-exact, digests verified.
            #expect(try after.load(after.checkpoint("demo@1"), verify: true) == earlier, "kill point \(killPoint)")
            let base = try after.bases().first { $0.fingerprint == baseFingerprint }
            #expect(try base.map { try after.load($0, verify: true).tensors } == earlierBase.tensors, "kill point \(killPoint)")
            // Whatever else is visible is complete.
            for info in try after.checkpoints() { _ = try after.load(info, verify: true) }
            for info in try after.bases() { _ = try after.load(info, verify: true) }
            let report = try after.check(record: false)
            #expect(report.passed, "kill point \(killPoint): \(report.findings)")
            try after.gc()
            #expect(try after.check(record: false).findings.isEmpty, "kill point \(killPoint)")
            killPoint += 1
        }
        #expect(kills >= 30, "only \(kills) crash points were exercised")
    }
}
