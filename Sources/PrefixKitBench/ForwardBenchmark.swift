import Foundation
import PrefixKit

/// Forward pass throughput against NumPy on the same weights and against the measured sgemm peak,
/// plus the peak memory of a forward that streams a 24-layer model from a store.
struct ForwardBenchmark {
    var options: BenchOptions

    func run() throws {
        let config =
            options.small
            ? ModelConfig.gpt2(layers: 2, width: 256, heads: 4, vocabSize: 1000, maxPositions: 1024)
            : ModelConfig.gpt2(layers: 12, width: 768, heads: 12, vocabSize: 50257, maxPositions: 1024)
        let pn = 20, n = 128
        let work = try options.freshWork()
        defer { Leftovers.discard(work) }

        let weights = SyntheticModel.gpt2Base(config, seed: 11)
        var content = SyntheticModel.hiddenPrefix(config, prefixLength: pn, seed: 12)
        content.positions = .standard(prefixLength: pn)
        var random = SeededRandom(seed: 13)
        let ids = (0..<n).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
        let idsTensor = try Tensor(dtype: .i64, shape: [1, n], bytes: ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) })
        let stack = try PrefixStack(config: config, weights: InMemoryTensors(weights.tensors), prefix: PrefixSource(content))
        let input = try ForwardInput(ids: idsTensor)

        print(
            "forward benchmark: \(Format.config(config)), d_ff=\(config.intermediateSize), Pn=\(pn), N=\(n), B=1, f32, "
                + "OPENBLAS_NUM_THREADS=\(ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] ?? "unset")")
        let peak = Self.sgemmPeak()
        var result: ForwardResult?
        _ = try stack.forward(input, as: Float.self)
        var times: [Double] = []
        for _ in 0..<options.rounds * 2 + 1 { times.append(try Measure.seconds { result = try stack.forward(input, as: Float.self) }) }
        let ours = Measure.median(times)
        var fullTimes: [Double] = []
        for _ in 0..<options.rounds {
            fullTimes.append(
                try Measure.seconds { _ = try stack.forward(input, as: Float.self, options: ForwardOptions(computePrefixRows: true)) })
        }
        let oursFull = Measure.median(fullTimes)

        let d = Double(config.hiddenSize), ff = Double(config.intermediateSize), L = Double(config.numLayers)
        let r = Double(n), p = Double(pn)
        // FLOPs PrefixKit performs (prefix rows: key/value projection only) and the full-row count.
        let skipFlops = L * (2 * p * d * 2 * d + 2 * r * d * 3 * d + 2 * 2 * r * (p + r) * d + 2 * r * d * d + 2 * 2 * r * d * ff)
        let fullFlops = L * (2 * (p + r) * d * 3 * d + 2 * 2 * (p + r) * (p + r) * d + 2 * (p + r) * d * d + 2 * 2 * (p + r) * d * ff)

        var rows: [[String]] = [["measure", "time", "tokens/s", "GFLOP/s", "vs", "target"]]
        rows.append([
            "cblas_sgemm peak, 1024^3 (Debian OpenBLAS, \(BLASKernels.current) kernels)", "", "", String(format: "%.1f", peak), "", "",
        ])
        rows.append([
            "PrefixKit forward (prefix rows: K/V only)", Measure.ms(ours), String(format: "%.0f", r / ours),
            String(format: "%.1f", skipFlops / ours / 1e9), String(format: "%.0f%% of peak", skipFlops / ours / 1e9 / peak * 100), ">= 80%",
        ])
        rows.append([
            "PrefixKit forward, all Pn+N rows", Measure.ms(oursFull), String(format: "%.0f", r / oursFull),
            String(format: "%.1f", fullFlops / oursFull / 1e9), String(format: "%.0f%% of peak", fullFlops / oursFull / 1e9 / peak * 100),
            "",
        ])
        if let python = options.python {
            let peer = try numpyPeer(python: python, weights: weights, content: content, ids: idsTensor, work: work, heads: config.numHeads)
            rows.append([
                "NumPy full rows (\(peer.blas))", Measure.ms(peer.full), String(format: "%.0f", r / peer.full),
                String(format: "%.1f", fullFlops / peer.full / 1e9), "PrefixKit " + Measure.ratio(peer.full / ours), ">= 1.10x",
            ])
            rows.append([
                "NumPy skipping discarded work", Measure.ms(peer.skip), String(format: "%.0f", r / peer.skip),
                String(format: "%.1f", skipFlops / peer.skip / 1e9), "PrefixKit " + Measure.ratio(peer.skip / ours), ">= 1.00x",
            ])
            if let final = result?.final {
                let ours = final.floats(), theirs = peer.final
                let scale = theirs.map { abs($0) }.max() ?? 1
                let worst = zip(ours, theirs).map { abs($0 - $1) }.max() ?? .infinity
                rows.append([
                    "PrefixKit vs NumPy final output (max rel. error)", String(format: "%.1e", worst / scale), "", "", "", "<= 1e-4",
                ])
            }
        }
        print(Format.table(rows))
        try streamingMemory(work: work)
    }

    /// Single-thread sgemm throughput on 1024^3, the best of 5.
    static func sgemmPeak() -> Double {
        let size = 1024
        let a = [Float](repeating: 0.5, count: size * size), b = [Float](repeating: 0.25, count: size * size)
        var c = [Float](repeating: 0, count: size * size)
        var best = Double.infinity
        for _ in 0..<5 {
            let t = Measure.seconds {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            // The buffers hold size * size values each: never empty, so never without a base address.
                            guard let a = pa.baseAddress, let b = pb.baseAddress, let c = pc.baseAddress else { return }
                            Float.gemm(
                                transposeA: false, transposeB: false, m: size, n: size, k: size, alpha: 1, a: a, lda: size, b: b,
                                ldb: size, beta: 0, c: c, ldc: size)
                        }
                    }
                }
            }
            best = min(best, t)
        }
        return 2 * pow(Double(size), 3) / best / 1e9
    }

    private func numpyPeer(
        python: String, weights: BaseWeights, content: CheckpointContent, ids: Tensor, work: String,
        heads: Int
    ) throws -> (full: Double, skip: Double, blas: String, final: [Float]) {
        try NPZ.write(weights.tensors.map { ($0.name, NPYValue.tensor($0.tensor)) }, to: work + "/weights.npz")
        try NPZ.write(
            content.layers.enumerated().compactMap { l, layer in
                guard case .hidden(let p) = layer else { return nil }
                return ("prefix." + layerLabel(l, layerCount: content.layers.count), NPYValue.tensor(p))
            }, to: work + "/prefix.npz")
        try NPY.encode(ids).write(to: URL(fileURLWithPath: work + "/ids.npy"))
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("benchmarks/numpy_forward.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            script, work + "/weights.npz", work + "/prefix.npz", work + "/ids.npy", "\(options.rounds * 2 + 1)", work + "/final.npy",
            "\(heads)",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any], let full = json["full"] as? Double,
            let skip = json["skip"] as? Double
        else { throw BenchError("NumPy peer failed: \(String(decoding: data, as: UTF8.self))") }
        let final = try NPY.read(path: work + "/final.npy").tensor?.floats() ?? []
        return (full, skip, json["blas"] as? String ?? "?", final)
    }

    /// Peak RSS of `prefixkit forward` streaming a 24-layer d=1024 model from a store, against one
    /// layer's weights + activations + the runtime's own footprint.
    private func streamingMemory(work: String) throws {
        let config =
            options.small
            ? ModelConfig.gpt2(layers: 4, width: 256, heads: 4, vocabSize: 1000, maxPositions: 1024)
            : ModelConfig.gpt2(layers: 24, width: 1024, heads: 16, vocabSize: 50257, maxPositions: 1024)
        let storePath = work + "/rss-store"
        let store = try Store.create(at: storePath)
        let weights = SyntheticModel.gpt2Base(config, seed: 21)
        let base = try store.saveBase(weights, provenance: Provenance(sourceFormat: "bench"))
        try store.saveCheckpoint(
            SyntheticModel.hiddenPrefix(config, prefixLength: 20, seed: 22),
            as: CheckpointSpec(name: "rss", step: 1, base: base.base.fingerprint))
        var random = SeededRandom(seed: 23)
        let ids = (0..<128).map { _ in Int64(random.next() % UInt64(config.vocabSize)) }
        try NPY.encode(try Tensor(dtype: .i64, shape: [1, 128], bytes: ids.flatMap { withUnsafeBytes(of: $0.littleEndian, Array.init) }))
            .write(to: URL(fileURLWithPath: work + "/rss-ids.npy"))
        let layerBytes = weights.tensors.filter { $0.name.hasPrefix("h.0.") }.reduce(0) { $0 + $1.tensor.byteCount }
        let cli = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prefixkit").path
        func peakRSS(_ arguments: [String]) throws -> Int {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                ["bash", "-c", "\"$0\" \"$@\" > /dev/null && grep VmHWM /proc/$$/status > /dev/null; true", cli] + arguments
            // Measure with GNU time's max RSS when present, else with a wrapper reading getrusage.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments =
                [
                    "-c",
                    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
                        + "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", cli,
                ] + arguments
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) * 1024
        }
        let runtime = try peakRSS(["list", storePath])
        let peak = try peakRSS(["forward", storePath, "rss", "--input", work + "/rss-ids.npy"])
        let activations =
            12 * 148 * config.hiddenSize * 4 + 148 * config.intermediateSize * 4 * 2 + config.numLayers * 2 * 148 * config.hiddenSize * 4
        let budget = 2 * (layerBytes + activations + runtime)
        print(
            "\nstreaming forward, \(Format.config(config)) (\(String(format: "%.2f", Double(base.base.byteCount) / 1e9)) GB of weights in a store):"
        )
        print(
            Format.table([
                ["measure", "bytes"],
                ["one layer's weights", Self.mb(layerBytes)],
                ["activations (working set + recorded H^l, Hbar^l+1)", Self.mb(activations)],
                ["runtime (peak RSS of `prefixkit list`)", Self.mb(runtime)],
                ["peak RSS of `prefixkit forward`", Self.mb(peak)],
                ["budget: 2 x (layer + activations + runtime)", Self.mb(budget) + (peak <= budget ? "  (within)" : "  (EXCEEDED)")],
            ]))
    }

    static func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }
}
