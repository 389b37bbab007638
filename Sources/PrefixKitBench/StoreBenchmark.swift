import Foundation
import PrefixKit

/// Save and load of a ~1.2 GB f32 model against raw write+fsync / read of the same bytes and
/// against h5py, interleaved round by round; medians reported.
struct StoreBenchmark {
    var options: BenchOptions

    func run() throws {
        let config = options.ioModel
        let work = try options.freshWork()
        defer { Leftovers.discard(work) }

        let weights = Self.model(config)
        let total = weights.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        print(
            "store benchmark: GPT-2-shaped f32 model, \(Format.config(config)), d_ff=\(config.intermediateSize), "
                + "\(weights.tensors.count) tensors, \(String(format: "%.2f", Double(total) / 1e9)) GB; \(options.rounds) rounds, medians")
        let raw = work + "/raw.bin"
        let manifest = try writeManifest(weights, to: work + "/manifest.json")
        let readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 64)
        defer { readBuffer.deallocate() }
        readBuffer.initializeMemory(as: UInt8.self, repeating: 1)

        var rawWrite: [Double] = [], rawRead: [Double] = [], save: [Double] = [], load: [Double] = [], loadVerified: [Double] = []
        var prefixSave: [Double] = [], h5Write: [Double] = [], h5Read: [Double] = []
        var checksums = Set<UInt64>()
        for round in 1...options.rounds {
            try? FileManager.default.removeItem(atPath: raw)
            rawWrite.append(try Measure.seconds { try Self.writeRaw(weights, to: raw) })
            let storePath = work + "/store-\(round)"
            let store = try Store.create(at: storePath)
            save.append(try Measure.seconds { try store.saveBase(weights, provenance: Provenance(sourceFormat: "bench")) })
            let prefix = SyntheticModel.hiddenPrefix(config, prefixLength: 20, seed: UInt64(round))
            let base = try store.bases()[0].fingerprint
            prefixSave.append(
                try Measure.seconds {
                    try store.saveCheckpoint(prefix, as: CheckpointSpec(name: "bench", step: round, base: base))
                })
            if let python = options.python {
                let peer = try Self.h5pyPeer(python: python, raw: raw, manifest: manifest, work: work)
                h5Write.append(peer.write)
                h5Read.append(peer.read)
            }
            var sum: UInt64 = 0
            rawRead.append(try Measure.seconds { sum = try Self.readRaw(raw, into: readBuffer) })
            checksums.insert(sum)
            let reopened = try Store.open(at: storePath)
            let info = try reopened.bases()[0]
            load.append(
                try Measure.seconds {
                    var s: UInt64 = 0
                    for entry in try reopened.tensorEntries(of: info) {
                        let tensor = try reopened.load(entry)
                        s = s &+ tensor.withUnsafeBytes { Measure.touch($0) }
                    }
                    sum = s
                })
            checksums.insert(sum)
            loadVerified.append(try Measure.seconds { _ = try reopened.load(info, verify: true) })
            try? FileManager.default.removeItem(atPath: storePath)
        }
        if checksums.count != 1 { print("warning: checksums differ between raw read and PrefixKit load: \(checksums)") }

        let m = (
            rawWrite: Measure.median(rawWrite), rawRead: Measure.median(rawRead), save: Measure.median(save),
            load: Measure.median(load), verified: Measure.median(loadVerified), prefix: Measure.median(prefixSave)
        )
        print("")
        print(
            Format.table(
                [
                    ["measure", "time", "throughput", "vs baseline", "target"],
                    ["raw write + fsync (baseline)", Measure.ms(m.rawWrite), Measure.gbps(total, m.rawWrite), "1.00x", ""],
                    [
                        "PrefixKit save (SHA-256 included)", Measure.ms(m.save), Measure.gbps(total, m.save),
                        Measure.ratio(m.rawWrite / m.save), ">= 0.80x",
                    ],
                    h5Write.isEmpty
                        ? []
                        : [
                            "h5py write + fsync", Measure.ms(Measure.median(h5Write)), Measure.gbps(total, Measure.median(h5Write)),
                            Measure.ratio(m.rawWrite / Measure.median(h5Write)), "",
                        ],
                    ["raw read from page cache (baseline)", Measure.ms(m.rawRead), Measure.gbps(total, m.rawRead), "1.00x", ""],
                    [
                        "PrefixKit load, every byte touched", Measure.ms(m.load), Measure.gbps(total, m.load),
                        Measure.ratio(m.rawRead / m.load), ">= 0.80x",
                    ],
                    [
                        "PrefixKit load with digests verified", Measure.ms(m.verified), Measure.gbps(total, m.verified),
                        Measure.ratio(m.rawRead / m.verified), "",
                    ],
                    h5Read.isEmpty
                        ? []
                        : [
                            "h5py read", Measure.ms(Measure.median(h5Read)), Measure.gbps(total, Measure.median(h5Read)),
                            Measure.ratio(m.rawRead / Measure.median(h5Read)), "",
                        ],
                    ["prefix-only checkpoint save (Pn=20, \(config.numLayers) layers)", Measure.ms(m.prefix), "", "", "<= 50 ms"],
                ].filter { !$0.isEmpty }))
        print(
            "\nper round (ms): raw write \(rawWrite.map { Measure.ms($0) }), save \(save.map { Measure.ms($0) }), "
                + "raw read \(rawRead.map { Measure.ms($0) }), load \(load.map { Measure.ms($0) })")
    }

    /// A GPT-2-shaped base with cheap pseudo-random values (every tensor distinct).
    static func model(_ config: ModelConfig) -> BaseWeights {
        let template = SyntheticModel.gpt2Base(
            ModelConfig.gpt2(layers: config.numLayers, width: 1, heads: 1, vocabSize: 1, maxPositions: 1), seed: 0)
        var tensors: [NamedTensor] = []
        for (index, item) in template.tensors.enumerated() {
            let d = config.hiddenSize, ff = config.intermediateSize
            let shape: Shape =
                switch item.name.split(separator: ".").suffix(2).joined(separator: ".") {
                case "wte.weight": [config.vocabSize, d]
                case "wpe.weight": [config.maxPositions, d]
                case "c_attn.weight": [d, 3 * d]
                case "c_attn.bias": [3 * d]
                case "c_fc.weight": [d, ff]
                case "c_fc.bias": [ff]
                default: item.name.contains("mlp.c_proj.weight") ? [ff, d] : item.name.contains("attn.c_proj.weight") ? [d, d] : [d]
                }
            var random = SeededRandom(seed: UInt64(index) &* 7919 &+ 1)
            let storage = TensorStorage(uninitializedByteCount: shape.elementCount * 4) { buffer in
                let floats = buffer.bindMemory(to: UInt32.self)
                for i in 0..<floats.count { floats[i] = 0x3c00_0000 | UInt32(truncatingIfNeeded: random.next() >> 41) }
            }
            // Sizes match by construction.
            guard let tensor = try? Tensor(dtype: .f32, shape: shape, storage: storage) else { preconditionFailure("bench tensor") }
            tensors.append(NamedTensor(item.name, tensor))
        }
        return BaseWeights(config: config, configJSON: config.huggingFaceJSON(), tensors: tensors)
    }

    static func writeRaw(_ weights: BaseWeights, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw BenchError("cannot create \(path)") }
        defer { close(fd) }
        for item in weights.tensors {
            try item.tensor.withUnsafeBytes { bytes in
                guard let start = bytes.baseAddress else { return }
                var offset = 0
                while offset < bytes.count {
                    let n = write(fd, start + offset, bytes.count - offset)
                    guard n > 0 else { throw BenchError("write failed") }
                    offset += n
                }
            }
        }
        guard fsync(fd) == 0 else { throw BenchError("fsync failed") }
    }

    static func readRaw(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws -> UInt64 {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw BenchError("cannot open \(path)") }
        defer { close(fd) }
        guard let start = buffer.baseAddress else { return 0 }
        var offset = 0
        while offset < buffer.count {
            let n = read(fd, start + offset, buffer.count - offset)
            guard n > 0 else { break }
            offset += n
        }
        return Measure.touch(UnsafeRawBufferPointer(rebasing: buffer[0..<offset]))
    }

    func writeManifest(_ weights: BaseWeights, to path: String) throws -> String {
        var offset = 0
        var entries: [[Any]] = []
        for item in weights.tensors {
            entries.append([item.name, item.tensor.shape.dimensions, offset, item.tensor.byteCount])
            offset += item.tensor.byteCount
        }
        try JSONSerialization.data(withJSONObject: entries).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func h5pyPeer(python: String, raw: String, manifest: String, work: String) throws -> (write: Double, read: Double) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("benchmarks/h5py_peer.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, raw, manifest, work]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let write = json["write_s"] as? Double, let read = json["read_s"] as? Double
        else {
            throw BenchError("h5py peer failed: \(String(decoding: data, as: UTF8.self))")
        }
        return (write, read)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Formatting shared by the benchmark sections.
enum Format {
    static func megabytes(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1e6) }

    static func config(_ config: ModelConfig) -> String {
        "\(config.family.rawValue) L=\(config.numLayers) d=\(config.hiddenSize) H=\(config.numHeads)"
    }

    static func table(_ rows: [[String]]) -> String {
        guard let width = rows.map(\.count).max() else { return "" }
        var widths = [Int](repeating: 0, count: width)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return rows.map { row in
            "  "
                + row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
