import Foundation
import PrefixKit
import TestSupport
import Testing

/// HF Trainer run directories (`fixtures/trainer/run1`, made by `generate_trainer.py` with
/// transformers' Trainer and PEFT): every `checkpoint-<step>/` a step of one name, chained as
/// parents, with the trainer's log as provenance; a second import adds only new steps.
@Suite("Trainer runs")
struct TrainerRunTests {
    static let run = Processes.repositoryRoot + "/fixtures/trainer/run1"
    static let base = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/base"

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
    }

    /// A copy of the run holding only the given steps.
    static func copy(_ steps: [Int], into dir: TemporaryDirectory) throws -> String {
        let path = dir.path + "/run1"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for step in steps where !FileManager.default.fileExists(atPath: path + "/checkpoint-\(step)") {
            try FileManager.default.copyItem(atPath: Self.run + "/checkpoint-\(step)", toPath: path + "/checkpoint-\(step)")
        }
        return path
    }

    @Test("a run imports as steps 2, 4, 6 of one name, each the parent of the next, with global_step and the log as provenance")
    func wholeRun() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, Self.run, "--base", Self.base, "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Processes.validateJSON(run.stdout, schema: "import.schema.json").status == 0)
        let report = try Self.json(run.stdout)
        let steps = try #require(report["steps"] as? [[String: Any]])
        #expect(steps.map { $0["step"] as? Int } == [2, 4, 6] && steps.map { $0["name"] as? String } == ["run1", "run1", "run1"])
        #expect(steps.map { $0["parent"] as? String } == [nil, "run1@2", "run1@4"], "\(steps.map { $0["parent"] ?? "nil" })")
        let state = try Self.json(try String(contentsOfFile: Self.run + "/checkpoint-4/trainer_state.json", encoding: .utf8))
        let history = try #require(state["log_history"] as? [[String: Any]])
        let inspect = try Self.json(try Processes.prefixkit(["inspect", store, "run1@4", "--json"]).stdout)
        let training = try #require(
            ((inspect["checkpoint"] as? [String: Any])?["provenance"] as? [String: Any])?["training"] as? [String: Any])
        #expect(training["global_step"] as? Int == 4)
        let log = try #require(training["log"] as? [[String: Any]])
        // Steps 3 and 4: what was logged since the previous saved step.
        #expect(log.map { $0["step"] as? Int } == [3, 4], "\(log)")
        for entry in log {
            let theirs = try #require(history.first { $0["step"] as? Int == entry["step"] as? Int })
            #expect(
                entry["loss"] as? Double == theirs["loss"] as? Double
                    && entry["learning_rate"] as? Double == theirs["learning_rate"] as? Double)
        }
    }

    @Test("importing the run again adds only its new steps and says so; with nothing new it writes nothing")
    func growingRun() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let path = try Self.copy([2, 4], into: dir)
        #expect(try Processes.prefixkit(["import", store, path, "--base", Self.base]).status == 0)
        _ = try Self.copy([2, 4, 6], into: dir)
        let again = try Processes.prefixkit(["import", store, path])
        #expect(
            again.status == 0 && again.stdout.contains("step(s) 2, 4 of run1 were stored already") && again.stdout.contains("added 6"),
            "\(again.stdout)\(again.stderr)")
        let third = try Processes.prefixkit(["import", store, path])
        #expect(third.status == 0 && third.stdout.contains("nothing to add") && third.stdout.contains("wrote 0 B"), "\(third.stdout)")
        let listed = try Self.json(try Processes.prefixkit(["list", store, "--json"]).stdout)
        #expect((listed["checkpoints"] as? [Any])?.count == 3)
        let inspect = try Self.json(try Processes.prefixkit(["inspect", store, "run1@6", "--json"]).stdout)
        #expect((inspect["checkpoint"] as? [String: Any])?["parent"] as? String == "run1@4")
    }

    @Test("--step on a run is refused: its steps come from trainer_state.json")
    func stepRefused() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit(["import", dir.path + "/s", Self.run, "--base", Self.base, "--step", "3"])
        #expect(run.status == 2 && run.stderr.contains("--step does not apply"), "\(run.status) \(run.stderr)")
    }

    @Test("two checkpoint directories with one global_step are refused, naming both")
    func duplicateStep() throws {
        let dir = TemporaryDirectory()
        let path = try Self.copy([2, 4], into: dir)
        try FileManager.default.copyItem(atPath: path + "/checkpoint-4", toPath: path + "/checkpoint-40")
        let run = try Processes.prefixkit(["import", dir.path + "/s", path, "--base", Self.base])
        #expect(run.status == 3 && run.stderr.contains("checkpoint-4 and checkpoint-40 both hold step 4"), "\(run.stderr)")
    }

    @Test("a malformed trainer_state.json is refused naming the file, and a broken later step stops the run before anything is written")
    func brokenSteps() throws {
        let dir = TemporaryDirectory()
        let path = try Self.copy([2, 4], into: dir)
        try Data("{\"global_step\": -3}".utf8).write(to: URL(fileURLWithPath: path + "/checkpoint-4/trainer_state.json"))
        let bad = try Processes.prefixkit(["import", dir.path + "/s", path, "--base", Self.base])
        #expect(
            bad.status == 3 && bad.stderr.contains("global_step is not a non-negative integer")
                && bad.stderr.contains("trainer_state.json"), "\(bad.stderr)")
        let other = TemporaryDirectory()
        let broken = try Self.copy([2, 4], into: other)
        try FileManager.default.removeItem(atPath: broken + "/checkpoint-4/adapter_model.safetensors")
        let store = other.path + "/s"
        let run = try Processes.prefixkit(["import", store, broken, "--base", Self.base])
        #expect(run.status == 3, "\(run.stderr)")
        // Nothing was written: the store holds no checkpoint (or was never created).
        if FileManager.default.fileExists(atPath: store + "/catalog.sqlite") {
            let listed = try Self.json(try Processes.prefixkit(["list", store, "--json"]).stdout)
            #expect((listed["checkpoints"] as? [Any])?.isEmpty == true, "\(listed)")
        }
    }
}
