import Foundation
import PrefixKit

/// `prefixkit diff` of two key/value checkpoints (GPT-2-shaped base, L=12, Hkv=4, hd=128,
/// Pn=512: 24 MB of f32 each) vs NumPy comparing the same two checkpoints exported as `.npz`,
/// per layer, part and head, in-process and as whole processes.
struct DiffBenchmark {
    var options: BenchOptions

    func run() throws {
        guard let python = options.python else {
            print("diff benchmark: skipped (pass --python PATH, a Python with numpy)")
            return
        }
        let config =
            options.small
            ? ModelConfig.gpt2(layers: 2, width: 256, heads: 2, vocabSize: 64, maxPositions: 64)
            : ModelConfig.gpt2(layers: 12, width: 512, heads: 4, vocabSize: 64, maxPositions: 64)
        let pn = options.small ? 64 : 512
        let work = try options.freshWork()
        defer { Leftovers.discard(work) }
        let store = try Store.create(at: work + "/store")
        let base = try store.saveBase(SyntheticModel.gpt2Base(config, seed: 41), provenance: Provenance(sourceFormat: "bench"))
        var random = SeededRandom(seed: 42)
        let shape: Shape = [config.numKVHeads, pn, config.headDim]
        for name in ["a", "b"] {
            let layers = (0..<config.numLayers).map { _ in
                LayerPrefix.kv(
                    key: Tensor(shape: shape, floats: random.normals(shape.elementCount, scale: 1)),
                    value: Tensor(shape: shape, floats: random.normals(shape.elementCount, scale: 1)))
            }
            try store.saveCheckpoint(
                CheckpointContent(form: .kv, prefixLength: pn, layers: layers),
                as: CheckpointSpec(name: name, step: 1, base: base.base.shortReference))
            _ = try Exporter.run(store, reference: name, format: .npz, out: work + "/\(name).npz")
        }
        let bytes = 2 * config.numLayers * 2 * shape.elementCount * 4
        print(
            "diff benchmark: two key/value checkpoints, L=\(config.numLayers) Hkv=\(config.numKVHeads) hd=\(config.headDim) Pn=\(pn) (\(String(format: "%.1f MB", Double(bytes) / 1e6)) of f32 in all), per layer, part and head, in f64; \(options.rounds) rounds, medians"
        )
        var ours: [Double] = []
        var largest = 0.0
        _ = try Differ.diff(store, "a", "b")
        for _ in 0..<options.rounds { ours.append(try Measure.seconds { largest = try Differ.diff(store, "a", "b").largestRelativeL2 }) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("benchmarks/diff_numpy.py").path
        let arguments = [script, work + "/a.npz", work + "/b.npz", "\(options.rounds)"]
        let peer = try PeftBenchmark.json(python, arguments)
        guard let theirs = peer["median"] as? Double, let theirLargest = peer["largest_relative_l2"] as? Double else {
            throw BenchError("NumPy peer failed: \(peer)")
        }
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prefixkit").path
        var ourProcess: [Double] = [], peerProcess: [Double] = []
        for _ in 0..<options.rounds {
            ourProcess.append(try Measure.seconds { try PeftBenchmark.run(cli, ["diff", work + "/store", "a", "b", "--json"]) })
            peerProcess.append(try Measure.seconds { _ = try PeftBenchmark.json(python, arguments + ["--once"]) })
        }
        let (o, t) = (Measure.median(ours), theirs)
        print(
            "  in-process   PrefixKit (store, every digest checked) \(Measure.ms(o))   NumPy (np.load of the .npz) \(Measure.ms(t))   = \(Measure.ratio(t / o)) faster"
        )
        let (op, tp) = (Measure.median(ourProcess), Measure.median(peerProcess))
        print(
            "  whole process  prefixkit diff --json \(Measure.ms(op))   python diff_numpy.py \(Measure.ms(tp))   = \(Measure.ratio(tp / op)) faster"
        )
        print(String(format: "  agreement    largest relative L2: PrefixKit %.12g, NumPy %.12g", largest, theirLargest))
    }
}
