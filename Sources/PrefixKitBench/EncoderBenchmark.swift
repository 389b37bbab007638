import Foundation
import PrefixKit

/// A BERT-base-shaped encoder (L=12, d=768, Pn=20, N=128, B=8) with a sequence-classification
/// head against HF transformers + PEFT on CPU PyTorch: same weights, adapter and inputs, same
/// thread count, in the same run; in-process (weights resident, after a warm-up) and as whole
/// processes (`prefixkit forward --logits` against `python peft_forward.py --once`).
struct EncoderBenchmark {
    var options: BenchOptions

    func run() throws {
        let threads = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "1"
        guard let python = options.peftPython ?? (options.profile ? "" : nil) else {
            print(
                "\nencoder: skipped (pass --peft-python PATH, a Python with torch, transformers 4.57.x and peft: PEFT runs SEQ_CLS there)")
            return
        }
        let small = options.small
        var config = ModelConfig(
            family: .bert, numLayers: small ? 2 : 12, hiddenSize: small ? 256 : 768, numHeads: small ? 4 : 12,
            numKVHeads: small ? 4 : 12, headDim: 64, intermediateSize: small ? 1024 : 3072, normKind: .layerNorm, normEps: 1e-12,
            positionScheme: .learned, maxPositions: 512, vocabSize: small ? 1000 : 30522, activation: "gelu",
            tieWordEmbeddings: true, attentionBias: true)
        var bert = BertOptions()
        bert.typeVocabSize = 2
        config.options = bert
        let (pn, n, batch, labels) = (20, 128, small ? 2 : 8, 2)
        let work = try options.freshWork("-encoder")
        defer { Leftovers.discard(work) }

        // A base, a key/value prefix (the exact conversion of a random hidden one) and a random
        // SEQ_CLS head, exported as the HF directory and PEFT adapter the peer loads.
        let weights = try SyntheticModel.base(config, seed: 51, prefix: "bert.")
        let store = try Store.create(at: work + "/store")
        let base = try store.saveBase(weights, alias: "b", provenance: Provenance(sourceFormat: "bench"))
        var kv = try PrefixStack(
            config: config, weights: InMemoryTensors(weights.tensors),
            prefix: PrefixSource(SyntheticModel.hiddenPrefix(config, prefixLength: pn, seed: 52))
        ).keyValuePrefix(dtype: .f32)
        var random = SeededRandom(seed: 53)
        kv.task = .sequenceClassification
        kv.head = [
            NamedTensor(
                "classifier.weight",
                Tensor(shape: [labels, config.hiddenSize], floats: random.normals(labels * config.hiddenSize, scale: 0.5))),
            NamedTensor("classifier.bias", Tensor(shape: [labels], floats: random.normals(labels, scale: 0.5))),
        ]
        try store.saveCheckpoint(kv, as: CheckpointSpec(name: "kv", step: 1, base: base.base.fingerprint))
        _ = try Exporter.run(store, reference: "kv", format: .peft, out: work + "/adapter")
        _ = try Exporter.run(store, reference: "kv", format: .hf, out: work + "/hf")
        let ids = (0..<(batch * n)).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
        let idsTensor = try Tensor(dtype: .i64, shape: [batch, n], bytes: ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        try NPY.encode(idsTensor).write(to: URL(fileURLWithPath: work + "/ids.npy"))

        let stack = try PrefixStack(config: config, weights: InMemoryTensors(weights.tensors), prefix: PrefixSource(kv))
        let input = try ForwardInput(ids: idsTensor)
        if options.profile {
            // For `perf record`: only the in-process forward from here on.
            let (ours, _) = try PeerComparison.inProcess(stack, input, rounds: 5)
            print("encoder: \(Measure.ms(ours)) per forward (profile mode, no peer)")
            return
        }
        let run = try PeerComparison.run(
            stack, input, work: work, python: python, threads: threads, rounds: options.rounds * 2 + 1, processRounds: options.rounds)
        let (ours, theirs, agreement, peer) = (run.ours, run.theirs, run.agreement, run.peer)
        let flops = Double(batch) * Self.flops(config, pn: pn, n: n)
        let peak = Self.shapePeak(config, rows: batch * n)
        print(
            "\nencoder forward vs HF transformers + PEFT: BERT-base-shaped \(Format.config(config)) d_ff=\(config.intermediateSize), "
                + "Pn=\(pn), N=\(n), B=\(batch), SEQ_CLS head (\(labels) labels), f32, \(threads) thread(s); "
                + "peer: \(peer["tool"] as? String ?? "?") (\(peer["attention"] as? String ?? "?") attention)")
        print(
            Format.table([
                ["measure", "time", "GFLOP/s", "vs", "target"],
                ["cblas_sgemm at the model's GEMM shapes (B x N rows, FLOP-weighted)", "", String(format: "%.1f", peak), "", ""],
                [
                    "PrefixKit in-process (KV prefix, pooler, classifier)", Measure.ms(ours), String(format: "%.1f", flops / ours / 1e9),
                    String(format: "%.0f%% of that peak", flops / ours / 1e9 / peak * 100), "",
                ],
                [
                    "transformers + PEFT in-process", Measure.ms(theirs), String(format: "%.1f", flops / theirs / 1e9),
                    "PrefixKit " + Measure.ratio(theirs / ours), ">= 1.15x",
                ],
                [
                    "`prefixkit forward --logits` whole process (store, digests, .npz out)", Measure.ms(run.ourProcess), "", "", "",
                ],
                [
                    "`python peft_forward.py --once` whole process", Measure.ms(run.peerProcess), "",
                    "PrefixKit " + Measure.ratio(run.peerProcess / run.ourProcess), "",
                ],
                ["classifier logits, PrefixKit vs PEFT (max rel. error)", String(format: "%.1e", agreement), "", "", "<= 1e-4"],
            ]))
    }

    /// The sgemm rate at the encoder's projection and MLP GEMMs over `rows` stacked rows, FLOP-weighted.
    static func shapePeak(_ config: ModelConfig, rows: Int) -> Double {
        let d = config.hiddenSize, ff = config.intermediateSize
        let shapes = [(d, d, 4), (d, ff, 1), (ff, d, 1)]
        var flops = 0.0, seconds = 0.0
        for (k, n, count) in shapes {
            flops += 2 * Double(rows * k * n * count)
            seconds += PeftBenchmark.gemmSeconds(m: rows, k: k, n: n, transposed: true) * Double(count)
        }
        return flops / seconds / 1e9
    }

    /// One sequence's FLOPs: q/k/v/output projections and the MLP on the N input rows,
    /// attention over Pn + N keys (the pooler and classifier are negligible).
    static func flops(_ config: ModelConfig, pn: Int, n: Int) -> Double {
        let d = Double(config.hiddenSize), ff = Double(config.intermediateSize), r = Double(n), keys = Double(pn + n)
        let layer = 2 * r * d * 4 * d + 2 * 2 * r * keys * d + 2 * r * d * ff * 2
        return Double(config.numLayers) * layer
    }
}
