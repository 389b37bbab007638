import Foundation
import PrefixKit

/// Import from and export to safetensors, against the Python safetensors package doing the same
/// I/O, on the same ~1.25 GB model, interleaved round by round.
struct ConvertBenchmark {
    var options: BenchOptions

    func run() throws {
        let config = options.ioModel
        let work = try options.freshWork(creating: "hf")
        defer { Leftovers.discard(work) }
        let weights = StoreBenchmark.model(config)
        let total = weights.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        try Data(config.huggingFaceJSON().utf8).write(to: URL(fileURLWithPath: work + "/hf/config.json"))
        try SafetensorsWriter.write(weights.tensors, metadata: [("format", "pt")], to: work + "/hf/model.safetensors")
        print(
            "convert benchmark: safetensors <-> store, \(Format.config(config)), \(String(format: "%.2f", Double(total) / 1e9)) GB; "
                + "\(options.rounds) rounds, medians")

        var ours: [String: [Double]] = ["import": [], "export": [], "export-unverified": []]
        var peer: [String: [Double]] = ["import": [], "export": []]
        for round in 1...options.rounds {
            let storePath = work + "/store-\(round)"
            let store = try Store.create(at: storePath)
            ours["import"]?.append(try Measure.seconds { _ = try Importer.run(store, source: work + "/hf") })
            let base = try store.bases()[0]
            ours["export"]?.append(
                try Measure.seconds {
                    _ = try Exporter.run(store, reference: base.shortReference, format: .hf, out: work + "/export-\(round)")
                })
            try? FileManager.default.removeItem(atPath: work + "/export-\(round)")
            // The same export without the digest check, to show what checking costs.
            ours["export-unverified"]?.append(
                try Measure.seconds {
                    _ = try Exporter.run(store, reference: base.shortReference, format: .hf, out: work + "/export-\(round)", verify: false)
                })
            try? FileManager.default.removeItem(atPath: work + "/export-\(round)")
            try? FileManager.default.removeItem(atPath: storePath)
            if let python = options.python {
                peer["import"]?.append(try Self.peer(python, ["import", work + "/hf/model.safetensors", work]))
                peer["export"]?.append(try Self.peer(python, ["export", work + "/hf/model.safetensors", work + "/peer.safetensors"]))
            }
        }
        var rows = [["measure", "time", "throughput", "PrefixKit vs peer", "target"]]
        for (label, key, peerLabel) in [
            ("import HF safetensors -> store (hash, write, fsync)", "import", "Python load_file + write + fsync"),
            ("export store -> HF safetensors (+ fsync)", "export", "Python load_file + save_file + fsync"),
        ] {
            let mine = Measure.median(ours[key] ?? [])
            rows.append(["PrefixKit " + label, Measure.ms(mine), Measure.gbps(total, mine), "", ""])
            if let theirs = peer[key], !theirs.isEmpty {
                let median = Measure.median(theirs)
                rows.append([
                    "  peer: " + peerLabel, Measure.ms(median), Measure.gbps(total, median), Measure.ratio(median / mine), ">= 1.00x",
                ])
            }
            if key == "export" {
                let unverified = Measure.median(ours["export-unverified"] ?? [])
                rows.append([
                    "  PrefixKit export --no-verify (no digest check)", Measure.ms(unverified), Measure.gbps(total, unverified),
                    Measure.ratio(unverified / mine) + " of verified time", "",
                ])
            }
        }
        print(Format.table(rows))
    }

    static func peer(_ python: String, _ arguments: [String]) throws -> Double {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("benchmarks/safetensors_peer.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: Any], let seconds = json["seconds"] as? Double else {
            throw BenchError("safetensors peer failed: \(String(decoding: data, as: UTF8.self))")
        }
        return seconds
    }
}
