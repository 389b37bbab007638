import Foundation
import PrefixKit

/// One side-by-side run of PrefixKit and the transformers + PEFT peer (`benchmarks/peft_forward.py`)
/// on the same exported model: in-process medians (weights resident, after a warm-up), the
/// logits' agreement, and whole processes (`prefixkit forward --logits` against `--once`).
///
/// `work` holds `store` (checkpoint `kv`), `hf`, `adapter` and `ids.npy`.
struct PeerComparison {
    /// PrefixKit's and the peer's in-process medians, in seconds.
    var ours: Double, theirs: Double
    /// The largest logit difference relative to the peer's largest logit (infinite when the shapes differ).
    var agreement: Double
    /// The whole-process medians, in seconds.
    var ourProcess: Double, peerProcess: Double
    /// The median of the forward time `prefixkit forward` reports for itself (a fresh process:
    /// weights mapped from the store and their digests checked as they are read), in seconds.
    var ourColdForward: Double
    /// What the peer printed (`tool`, `attention`, ...).
    var peer: [String: Any]

    /// Times PrefixKit's in-process forward only (for `--profile`): the median of `rounds`.
    static func inProcess(_ stack: PrefixStack, _ input: ForwardInput, rounds: Int) throws -> (seconds: Double, logits: Tensor?) {
        let options = ForwardOptions(logits: true)
        var result = try stack.forward(input, as: Float.self, options: options)
        var times: [Double] = []
        for _ in 0..<rounds {
            times.append(try Measure.seconds { result = try stack.forward(input, as: Float.self, options: options) })
        }
        return (Measure.median(times), result.logits)
    }

    /// Runs both sides: `rounds` in-process passes each, then `processRounds` whole processes each.
    /// `inputs` is the file in `work` both sides read (`ids.npy`, or an exchange `.npz` with
    /// decoder ids).
    static func run(
        _ stack: PrefixStack, _ input: ForwardInput, work: String, python: String, threads: String, rounds: Int, processRounds: Int,
        inputs: String = "ids.npy"
    ) throws -> PeerComparison {
        let (ours, logits) = try inProcess(stack, input, rounds: rounds)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("benchmarks/peft_forward.py").path
        let peerArguments = [script, work + "/hf", work + "/adapter", work + "/" + inputs, "\(rounds)", threads, work + "/peft.npy"]
        let peer = try PeftBenchmark.json(python, peerArguments)
        guard let theirs = peer["median"] as? Double else { throw BenchError("PEFT peer failed: \(peer)") }
        let peerLogits = try NPY.read(path: work + "/peft.npy").tensor?.floats() ?? []
        let ourLogits = logits?.floats() ?? []
        let scale = peerLogits.map { abs($0) }.max() ?? 1
        let agreement: Double =
            peerLogits.count == ourLogits.count
            ? zip(ourLogits, peerLogits).map { Double(abs($0 - $1)) }.max().map { $0 / Double(scale) } ?? .infinity : .infinity

        // Whole processes, what a CI job feels.
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prefixkit").path
        var ourProcess: [Double] = [], peerProcess: [Double] = [], coldForward: [Double] = []
        for round in 0..<processRounds {
            var printed = ""
            ourProcess.append(
                try Measure.seconds {
                    printed = try PeftBenchmark.output(
                        cli,
                        ["forward", work + "/store", "kv", "--input", work + "/" + inputs, "--logits", "--out", work + "/o\(round).npz"])
                })
            // `  123.4 ms, 567 tokens/s, ...`: the time of the forward itself.
            guard let line = printed.split(separator: "\n").first(where: { $0.contains(" tokens/s") }),
                let ms = Double(line.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
            else { throw BenchError("prefixkit forward printed no timing: \(printed)") }
            coldForward.append(ms / 1000)
            peerProcess.append(try Measure.seconds { _ = try PeftBenchmark.json(python, peerArguments + ["--once"]) })
        }
        return PeerComparison(
            ours: ours, theirs: theirs, agreement: agreement, ourProcess: Measure.median(ourProcess),
            peerProcess: Measure.median(peerProcess), ourColdForward: Measure.median(coldForward), peer: peer)
    }
}
