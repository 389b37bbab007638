import Foundation
import PrefixKit

/// The prefix-tuned forward against the peer users would run instead: HF transformers + PEFT on
/// CPU PyTorch, same model, same adapter, same inputs, same thread count, in the same run; timed
/// in-process (weights resident, after a warm-up) and as whole processes (`prefixkit forward`
/// against `python peft_forward.py --once`), beside the sgemm peak at the model's own GEMM shapes.
struct PeftBenchmark {
    var options: BenchOptions

    /// The two models: GPT-2 small's shape and a LLaMA-shaped model of similar size (GQA).
    static func models(small: Bool) -> [(name: String, config: ModelConfig, prefix: String)] {
        let llama = ModelConfig(
            family: .llama, numLayers: small ? 2 : 12, hiddenSize: small ? 256 : 768, numHeads: small ? 4 : 12,
            numKVHeads: small ? 2 : 4, headDim: 64, intermediateSize: small ? 512 : 2048, normKind: .rmsNorm, normEps: 1e-6,
            positionScheme: .rope, maxPositions: 2048, vocabSize: small ? 1000 : 32000, activation: "silu", ropeTheta: 10000,
            tieWordEmbeddings: false, attentionBias: false)
        let gpt2 =
            small
            ? ModelConfig.gpt2(layers: 2, width: 256, heads: 4, vocabSize: 1000, maxPositions: 1024)
            : ModelConfig.gpt2(layers: 12, width: 768, heads: 12, vocabSize: 50257, maxPositions: 1024)
        return [("GPT-2", gpt2, "transformer."), ("LLaMA-shaped", llama, "model.")]
    }

    func run() throws {
        let threads = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "1"
        guard let python = options.peftPython ?? (options.profile ? "" : nil) else {
            print("\npeft: skipped (pass --peft-python PATH, a Python with torch, transformers and peft installed for this peer)")
            return
        }
        for model in Self.models(small: options.small) {
            for batch in [1, 4] {
                try compare(model.name, model.config, prefix: model.prefix, batch: batch, python: python, threads: threads)
            }
        }
    }

    private func compare(_ name: String, _ config: ModelConfig, prefix: String, batch: Int, python: String, threads: String) throws {
        let pn = 20, n = 128
        let work = try options.freshWork("-peft")
        defer { Leftovers.discard(work) }

        // One base, one key/value prefix (the exact conversion of a random hidden one), exported as
        // the HF directory and PEFT adapter the peer loads.
        let weights = try SyntheticModel.base(config, seed: 41, prefix: prefix)
        let store = try Store.create(at: work + "/store")
        let base = try store.saveBase(weights, alias: "b", provenance: Provenance(sourceFormat: "bench"))
        var hidden = SyntheticModel.hiddenPrefix(config, prefixLength: pn, seed: 42)
        hidden.positions = .standard(prefixLength: pn)
        let kv = try PrefixStack(config: config, weights: InMemoryTensors(weights.tensors), prefix: PrefixSource(hidden)).keyValuePrefix(
            dtype: .f32)
        try store.saveCheckpoint(kv, as: CheckpointSpec(name: "kv", step: 1, base: base.base.fingerprint))
        _ = try Exporter.run(store, reference: "kv", format: .peft, out: work + "/adapter")
        _ = try Exporter.run(store, reference: "kv", format: .hf, out: work + "/hf")
        var random = SeededRandom(seed: 43)
        let ids = (0..<(batch * n)).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
        let idsTensor = try Tensor(
            dtype: .i64, shape: [batch, n], bytes: ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        try NPY.encode(idsTensor).write(to: URL(fileURLWithPath: work + "/ids.npy"))

        let peakBefore = Self.shapePeak(config, pn: pn, n: n)
        // In-process, weights resident.
        let stack = try PrefixStack(config: config, weights: InMemoryTensors(weights.tensors), prefix: PrefixSource(kv))
        let input = try ForwardInput(ids: idsTensor)
        if options.profile {
            // For `perf record`: only the in-process forward from here on.
            let (ours, _) = try PeerComparison.inProcess(stack, input, rounds: 20)
            print("\(name): \(Measure.ms(ours)) per forward (profile mode, no peer)")
            return
        }
        let run = try PeerComparison.run(
            stack, input, work: work, python: python, threads: threads, rounds: options.rounds * 2 + 1, processRounds: options.rounds)
        let (ours, theirs, agreement, peer) = (run.ours, run.theirs, run.agreement, run.peer)

        let flops = Self.flops(config, pn: pn, n: n) * Double(batch)
        // Measured before and after the timings, the better of the two: a single measurement on
        // this VM can catch BLAS threads asleep or a noisy neighbour and read low.
        let shapePeak = max(peakBefore, Self.shapePeak(config, pn: pn, n: n))
        print(
            "\nforward vs HF transformers + PEFT: \(name) \(Format.config(config)) d_ff=\(config.intermediateSize) V=\(config.vocabSize), "
                + "Pn=\(pn), N=\(n), B=\(batch), f32, \(threads) thread(s), OpenBLAS \(BLASKernels.current) kernels; peer: \(peer["tool"] as? String ?? "?") (\(peer["attention"] as? String ?? "?") attention)"
        )
        print(
            Format.table([
                ["measure", "time", "GFLOP/s", "vs", "target"],
                ["cblas_sgemm at the model's GEMM shapes (FLOP-weighted)", "", String(format: "%.1f", shapePeak), "", ""],
                [
                    "PrefixKit in-process (KV prefix, logits)", Measure.ms(ours), String(format: "%.1f", flops / ours / 1e9),
                    String(format: "%.0f%% of that peak", flops / ours / 1e9 / shapePeak * 100), ">= 85%",
                ],
                [
                    "transformers + PEFT in-process", Measure.ms(theirs), String(format: "%.1f", flops / theirs / 1e9),
                    "PrefixKit " + Measure.ratio(theirs / ours), ">= 1.15x",
                ],
                [
                    "`prefixkit forward`'s own forward, cold (weights from the store, digests)", Measure.ms(run.ourColdForward),
                    String(format: "%.1f", flops / run.ourColdForward / 1e9),
                    "vs PEFT in-process " + Measure.ratio(theirs / run.ourColdForward),
                    ">= 1.15x",
                ],
                ["`prefixkit forward` whole process (store, digests, .npz out)", Measure.ms(run.ourProcess), "", "", ""],
                [
                    "`python peft_forward.py --once` whole process", Measure.ms(run.peerProcess), "",
                    "PrefixKit " + Measure.ratio(run.peerProcess / run.ourProcess), "",
                ],
                ["logits, PrefixKit vs PEFT (max rel. error)", String(format: "%.1e", agreement), "", "", "<= 1e-4"],
            ]))
    }

    /// The FLOPs of the forward PrefixKit performs: projections on the N input rows, attention over
    /// Pn + N keys, the MLP and the LM head.
    static func flops(_ config: ModelConfig, pn: Int, n: Int) -> Double {
        let d = Double(config.hiddenSize), ff = Double(config.intermediateSize), r = Double(n), keys = Double(pn + n)
        let q = Double(config.numHeads * config.headDim), kv = Double(config.numKVHeads * config.headDim)
        let gated = config.family != .gpt2
        let layer = 2 * r * d * (q + 2 * kv) + 2 * 2 * r * keys * q + 2 * r * q * d + 2 * r * d * ff * (gated ? 3 : 2)
        return Double(config.numLayers) * layer + 2 * r * d * Double(config.vocabSize)
    }

    /// The sgemm rate at the forward's own GEMMs (projections, MLP, head; each the best of 10),
    /// weighted by their FLOPs: what the model's matrix work could reach on this machine.
    static func shapePeak(_ config: ModelConfig, pn: Int, n: Int) -> Double {
        let d = config.hiddenSize, ff = config.intermediateSize
        let q = config.numHeads * config.headDim, kv = config.numKVHeads * config.headDim
        let gated = config.family != .gpt2
        var shapes: [(m: Int, k: Int, n: Int, transposed: Bool, count: Int)] = []
        if gated {
            shapes += [(n, d, q, true, 1), (n, d, kv, true, 2), (n, q, d, true, 1), (n, d, ff, true, 2), (n, ff, d, true, 1)]
        } else {
            shapes += [(n, d, 3 * d, false, 1), (n, d, d, false, 1), (n, d, ff, false, 1), (n, ff, d, false, 1)]
        }
        var flops = 0.0, seconds = 0.0
        for shape in shapes {
            let t = gemmSeconds(m: shape.m, k: shape.k, n: shape.n, transposed: shape.transposed)
            let f = 2 * Double(shape.m * shape.k * shape.n) * Double(shape.count * config.numLayers)
            flops += f
            seconds += t * Double(shape.count * config.numLayers)
        }
        let head = 2 * Double(n * d * config.vocabSize)
        flops += head
        seconds += gemmSeconds(m: n, k: d, n: config.vocabSize, transposed: true)
        return flops / seconds / 1e9
    }

    /// The best of 10 single calls (after one warm-up) of `cblas_sgemm` for `[m, k] x [k, n]` (`transposed`: B stored `[n, k]`).
    static func gemmSeconds(m: Int, k: Int, n: Int, transposed: Bool) -> Double {
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var best = Double.infinity
        for _ in 0..<5 {
            best = min(
                best,
                Measure.seconds {
                    a.withUnsafeBufferPointer { pa in
                        b.withUnsafeBufferPointer { pb in
                            c.withUnsafeMutableBufferPointer { pc in
                                Float.gemm(
                                    transposeA: false, transposeB: transposed, m: m, n: n, k: k, alpha: 1,
                                    a: pa.baseAddress.unsafelyUnwrapped, lda: k,
                                    b: pb.baseAddress.unsafelyUnwrapped, ldb: transposed ? k : n, beta: 0,
                                    c: pc.baseAddress.unsafelyUnwrapped, ldc: n)
                            }
                        }
                    }
                })
        }
        return best
    }

    /// Runs a process to completion, throwing on a non-zero exit.
    static func run(_ executable: String, _ arguments: [String]) throws {
        _ = try output(executable, arguments, keep: false)
    }

    /// Runs a process to completion and returns what it printed, throwing on a non-zero exit.
    @discardableResult
    static func output(_ executable: String, _ arguments: [String], keep: Bool = true) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = keep ? pipe : FileHandle.nullDevice
        try process.run()
        let data = keep ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw BenchError("\(executable) \(arguments.first ?? "") exited \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Runs a Python script and parses the JSON object it prints last.
    static func json(_ python: String, _ arguments: [String]) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0, let object = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else {
            throw BenchError("peer failed (exit \(process.terminationStatus)): \(last)")
        }
        return object
    }
}
