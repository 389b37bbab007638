import Foundation
import PrefixKit

/// `prefixkit verify` of one checkpoint and `prefixkit check --quick` in stores of growing size
/// (the steps of one training run), each beside `prefixkit forward` of the same checkpoint in
/// the same store: what CI pays to verify the newest step of a run.
struct VerifyScaleBenchmark {
    var options: BenchOptions

    func run() throws {
        let config = ModelConfig.gpt2(layers: 4, width: 64, heads: 4, vocabSize: 1000, maxPositions: 256)
        let sizes = options.small ? [1, 100, 1000] : [1, 1000, 10_000]
        let work = try options.freshWork("-scale")
        defer { Leftovers.discard(work) }
        let store = try Store.create(at: work + "/store")
        let base = try store.saveBase(SyntheticModel.gpt2Base(config, seed: 51), provenance: Provenance(sourceFormat: "bench"))
        var random = SeededRandom(seed: 52)
        let ids = (0..<64).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
        let input = try ForwardInput(
            ids: try Tensor(dtype: .i64, shape: [1, 64], bytes: ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prefixkit").path
        print(
            "verify at scale: one run's checkpoints (\(Format.config(config)), hidden Pn=20, a blob each), N=64; "
                + "\(options.rounds) rounds, medians; processes"
        )
        let sha = Self.sha256Rate()
        var rows = [
            [
                "checkpoints", "blobs", "build", "forward (baseline)", "verify NEWEST", "vs forward", "check --quick", "vs forward",
                "check (full)", "hashed", "rate vs SHA-256 (\(String(format: "%.2f", sha / 1e9)) GB/s)",
            ]
        ]
        var saved = 0
        for size in sizes {
            let clock = ContinuousClock.now
            while saved < size {
                saved += 1
                try store.saveCheckpoint(
                    SyntheticModel.hiddenPrefix(config, prefixLength: 20, seed: UInt64(1000 + saved)),
                    as: CheckpointSpec(name: "run", step: saved, base: base.base.shortReference))
            }
            let built = clock.duration(to: .now)
            let newest = "run@\(saved)"
            let stack = try store.stack(for: store.checkpoint(newest))
            var exchange = try ActivationExchange(result: try stack.forward(input, as: Float.self), input: input)
            exchange.meta = #"{"form": "hidden", "Pn": 20, "input_start": 20, "compute_dtype": "f32", "layers": 4}"#
            let reference = work + "/reference.npz"
            try exchange.write(to: reference)
            var forward: [Double] = [], verify: [Double] = [], check: [Double] = []
            for _ in 0..<options.rounds {
                forward.append(
                    try Measure.seconds {
                        try PeftBenchmark.run(
                            cli, ["forward", store.directory, newest, "--input", reference, "--out", work + "/out.npz", "--quiet"])
                    })
                verify.append(
                    try Measure.seconds {
                        try PeftBenchmark.run(cli, ["verify", store.directory, newest, "--reference", reference, "--no-record", "--quiet"])
                    })
                check.append(try Measure.seconds { try PeftBenchmark.run(cli, ["check", store.directory, "--quick", "--no-record"]) })
            }
            // The whole store's digests, once (its time is the bytes over the hashing rate).
            var printed = ""
            let full = try Measure.seconds {
                printed = try PeftBenchmark.output(cli, ["check", store.directory, "--no-record", "--json"])
            }
            let hashed = ((try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any])?["bytes_hashed"] as? Int) ?? 0
            let (f, v, c) = (Measure.median(forward), Measure.median(verify), Measure.median(check))
            let blobs = try store.checkpoints().count + 1
            rows.append([
                "\(size)", "\(blobs)",
                String(format: "%.1f s", Double(built.components.seconds) + Double(built.components.attoseconds) * 1e-18),
                Measure.ms(f), Measure.ms(v), Measure.ratio(v / f), Measure.ms(c), Measure.ratio(c / f),
                Measure.ms(full), String(format: "%.0f MB", Double(hashed) / 1e6),
                Measure.ratio(Double(hashed) / full / sha),
            ])
        }
        print(Format.table(rows))
    }

    /// SHA-256's rate on this machine, one thread, over 64 MB in memory (the best of three).
    static func sha256Rate() -> Double {
        let bytes = [UInt8](repeating: 0x5a, count: 64 << 20)
        let best = (0..<3).map { _ in Measure.seconds { _ = bytes.withUnsafeBytes { SHA256Digest.hex(of: $0) } } }.min() ?? .nan
        return Double(bytes.count) / best
    }
}
