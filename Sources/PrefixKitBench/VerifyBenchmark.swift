import Foundation
import PrefixKit

/// Verification of a 12-layer d=768 checkpoint against a reference, time split by check, beside
/// the plain forward pass measured in the same run.
struct VerifyBenchmark {
    var options: BenchOptions

    func run() throws {
        let config =
            options.small
            ? ModelConfig.gpt2(layers: 2, width: 256, heads: 4, vocabSize: 1000, maxPositions: 1024)
            : ModelConfig.gpt2(layers: 12, width: 768, heads: 12, vocabSize: 50257, maxPositions: 1024)
        let work = try options.freshWork()
        defer { Leftovers.discard(work) }
        let store = try Store.create(at: work + "/store")
        let weights = SyntheticModel.gpt2Base(config, seed: 31)
        let base = try store.saveBase(weights, provenance: Provenance(sourceFormat: "bench"))
        try store.saveCheckpoint(
            SyntheticModel.hiddenPrefix(config, prefixLength: 20, seed: 32),
            as: CheckpointSpec(name: "bench", step: 1, base: base.base.shortReference))
        let info = try store.checkpoint("bench")
        var random = SeededRandom(seed: 33)
        let ids = (0..<128).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
        let input = try ForwardInput(
            ids: try Tensor(dtype: .i64, shape: [1, 128], bytes: ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
        let stack = try store.stack(for: info)
        // The reference: the training side's dump (here our own f32 pass), as a file.
        let reference = try stack.forward(input, as: Float.self, options: ForwardOptions(logits: false))
        var exchange = try ActivationExchange(result: reference, input: input)
        exchange.meta = #"{"form": "hidden", "Pn": 20, "input_start": 20, "compute_dtype": "f32", "layers": \#(config.numLayers)}"#
        try exchange.write(to: work + "/reference.npz")

        print(
            "verify benchmark: \(Format.config(config)), Pn=20, N=128, B=1, recomputed in f32, one BLAS thread; \(options.rounds) rounds, medians"
        )
        var forward: [Double] = [], perLayer: [Double] = [], endToEnd: [Double] = [], catalog: [Double] = [], structure: [Double] = [],
            roundTrip: [Double] = []
        for _ in 0..<options.rounds {
            forward.append(try Measure.seconds { _ = try stack.forward(input, as: Float.self) })
            var verify = VerifyOptions()
            verify.checkpoints = ["bench"]
            verify.reference = work + "/reference.npz"
            verify.record = false
            let report = try Verifier.run(store, options: verify)
            guard report.passed else {
                throw BenchError(
                    "the benchmark's verification failed: \(report.checkpoints.first?.checks.filter { $0.status == .fail }.map(\.message) ?? [])"
                )
            }
            perLayer.append(report.timings["per_layer"] ?? .nan)
            endToEnd.append(report.timings["end_to_end"] ?? .nan)
            catalog.append(report.timings["catalog"] ?? .nan)
            structure.append(report.timings["structure"] ?? .nan)
            roundTrip.append(report.timings["round_trip"] ?? .nan)
        }
        let f = Measure.median(forward), p = Measure.median(perLayer), e = Measure.median(endToEnd)
        print(
            Format.table([
                ["measure", "time", "vs one forward", "target"],
                ["plain forward (baseline)", Measure.ms(f), "1.00x", ""],
                ["teacher-forced per-layer checks (+ prefix rows)", Measure.ms(p), Measure.ratio(p / f), "<= 1.20x"],
                ["end to end (inputs -> final)", Measure.ms(e), Measure.ratio(e / f), ""],
                ["whole composition check (per layer + end to end)", Measure.ms(p + e), Measure.ratio((p + e) / f), "<= 2.40x"],
                [
                    "catalog + every digest (\(String(format: "%.2f", Double(base.base.byteCount) / 1e9)) GB)",
                    Measure.ms(Measure.median(catalog)), "", "",
                ],
                ["structure (incl. base fingerprint)", Measure.ms(Measure.median(structure)), "", ""],
                ["round trip (safetensors, npz, peft)", Measure.ms(Measure.median(roundTrip)), "", ""],
            ]))
        try wholeProcesses(store: work + "/store", reference: work + "/reference.npz", output: work + "/forward.npz")
    }

    /// `prefixkit verify` of the checkpoint against the reference beside `prefixkit forward` of
    /// the reference's inputs (both reading every digest, as they do by default), as processes:
    /// wall time, and the CPU time they used (verify hashes on a second core meanwhile).
    func wholeProcesses(store: String, reference: String, output: String) throws {
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prefixkit").path
        let runs: [(String, [String])] = [
            ("prefixkit forward --input REF --out OUT (baseline)", ["forward", store, "bench", "--input", reference, "--out", output]),
            ("prefixkit verify --reference REF", ["verify", store, "bench", "--reference", reference, "--no-record"]),
            (
                "prefixkit verify --reference REF --round-trip none",
                ["verify", store, "bench", "--reference", reference, "--no-record", "--round-trip", "none"]
            ),
        ]
        var wall = [[Double]](repeating: [], count: runs.count), cpu = wall
        for _ in 0..<options.rounds {
            for (i, run) in runs.enumerated() {
                let (w, c) = try Measure.processSeconds { try PeftBenchmark.run(cli, run.1 + ["--quiet"]) }
                wall[i].append(w)
                cpu[i].append(c)
            }
        }
        let (f, fc) = (Measure.median(wall[0]), Measure.median(cpu[0]))
        print("whole processes (the same store and inputs; \(options.rounds) rounds, medians):")
        var rows = [["process", "wall", "vs forward", "target", "CPU (user+sys)", "vs forward"]]
        for (i, run) in runs.enumerated() {
            let (w, c) = (Measure.median(wall[i]), Measure.median(cpu[i]))
            rows.append([
                run.0, Measure.ms(w), Measure.ratio(w / f), i == 1 ? "<= 1.50x" : "", Measure.ms(c), Measure.ratio(c / fc),
            ])
        }
        print(Format.table(rows))
    }
}
