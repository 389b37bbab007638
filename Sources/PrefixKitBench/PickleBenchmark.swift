import Foundation
import PrefixKit

/// Import of an HF model directory holding `pytorch_model.bin` (~1.25 GB, written by
/// `torch.save`) into a store, against torch doing the equivalent I/O: `torch.load(weights_only=
/// True, mmap=True)` + writing every tensor + fsync (`benchmarks/torch_peer.py`), on the same
/// file, interleaved round by round.
struct PickleBenchmark {
    var options: BenchOptions

    func run() throws {
        guard let python = options.peftPython else {
            print("\npickle: skipped (pass --peft-python PATH, a Python with torch: torch.save writes the file and is the peer)")
            return
        }
        let config = options.ioModel
        let work = try options.freshWork("-pickle", creating: "hf")
        defer { Leftovers.discard(work) }
        let weights = StoreBenchmark.model(config)
        let total = weights.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        try Data(config.huggingFaceJSON().utf8).write(to: URL(fileURLWithPath: work + "/hf/config.json"))
        try SafetensorsWriter.write(weights.tensors, metadata: [("format", "pt")], to: work + "/source.safetensors")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("benchmarks/torch_peer.py").path
        let made = try PeftBenchmark.json(python, [script, "make", work + "/source.safetensors", work + "/hf/pytorch_model.bin"])
        try FileManager.default.removeItem(atPath: work + "/source.safetensors")
        print(
            "\npickle import benchmark: pytorch_model.bin (\(made["tool"] as? String ?? "torch") torch.save) -> store, \(Format.config(config)), "
                + "\(String(format: "%.2f", Double(total) / 1e9)) GB; \(options.rounds) rounds, medians")
        var ours: [Double] = [], peer: [Double] = [], raw: [Double] = []
        for round in 1...options.rounds {
            // The floor for any durable copy: the same bytes written and fsynced, nothing else.
            raw.append(try Measure.seconds { try StoreBenchmark.writeRaw(weights, to: work + "/raw.bin") })
            try? FileManager.default.removeItem(atPath: work + "/raw.bin")
            let storePath = work + "/store-\(round)"
            let store = try Store.create(at: storePath)
            ours.append(try Measure.seconds { _ = try Importer.run(store, source: work + "/hf") })
            try? FileManager.default.removeItem(atPath: storePath)
            let result = try PeftBenchmark.json(python, [script, "import", work + "/hf/pytorch_model.bin", work])
            guard let seconds = result["seconds"] as? Double else { throw BenchError("torch peer failed: \(result)") }
            peer.append(seconds)
        }
        let (mine, theirs, floor) = (Measure.median(ours), Measure.median(peer), Measure.median(raw))
        print(
            Format.table([
                ["measure", "time", "throughput", "PrefixKit vs peer", "target"],
                [
                    "raw write + fsync of the same bytes (no reading, no checks)", Measure.ms(floor), Measure.gbps(total, floor),
                    Measure.ratio(floor / mine), "",
                ],
                [
                    "PrefixKit import pytorch_model.bin -> store (unpickle, check, hash, write, fsync)", Measure.ms(mine),
                    Measure.gbps(total, mine), "", "",
                ],
                [
                    "  peer: torch.load(weights_only=True, mmap=True) + write + fsync", Measure.ms(theirs), Measure.gbps(total, theirs),
                    Measure.ratio(theirs / mine), ">= 1.50x",
                ],
            ]))
    }
}
