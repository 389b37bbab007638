import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

/// Hostile, truncated or inconsistent sources: a clear error each, and nothing written.
@Suite("Converters: bad input")
struct ConverterBadInputTests {
    static func fixture(_ path: String) -> String { Processes.repositoryRoot + "/fixtures/peft/" + path }

    /// A copy of a fixture directory to tamper with.
    func copy(_ source: String, into tmp: TemporaryDirectory, as name: String) throws -> String {
        let path = tmp.path + "/" + name
        try FileManager.default.copyItem(atPath: Self.fixture(source), toPath: path)
        return path
    }

    func writeJSON(_ object: Any, _ path: String) throws {
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    /// Runs an import that must fail, and checks the store is untouched.
    func expectRefused(
        _ source: String, options: ImportOptions = ImportOptions(), in tmp: TemporaryDirectory,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> any Error {
        let store = try Store.create(at: tmp.path + "/store-\(UUID().uuidString.prefix(6))")
        let before = (try store.bases().count, try store.checkpoints().count)
        var caught: (any Error)?
        do { _ = try Importer.run(store, source: source, options: options) } catch { caught = error }
        let error = try #require(caught, "the import succeeded", sourceLocation: sourceLocation)
        #expect(
            try store.bases().count == before.0 && store.checkpoints().count == before.1, "the store changed",
            sourceLocation: sourceLocation)
        #expect(try FileManager.default.contentsOfDirectory(atPath: store.directory + "/blobs").isEmpty, sourceLocation: sourceLocation)
        return error
    }

    @Test("an adapter_model.bin whose pickle calls os.system is refused naming the global, and nothing runs")
    func adapterPickle() throws {
        let tmp = TemporaryDirectory()
        let adapter = try copy("gpt2-tiny/adapter", into: tmp, as: "adapter")
        try FileManager.default.removeItem(atPath: adapter + "/adapter_model.safetensors")
        let hostile = Processes.repositoryRoot + "/fixtures/pickle/hostile/global-os-system.bin"
        try FileManager.default.copyItem(atPath: hostile, toPath: adapter + "/adapter_model.bin")
        var options = ImportOptions()
        options.base = Self.fixture("gpt2-tiny/base")
        let error = try expectRefused(adapter, options: options, in: tmp) as? FormatError
        #expect(
            error?.code == .pickleRefused && error?.description.contains("refused global os.system") == true, "\(String(describing: error))"
        )
        #expect(!FileManager.default.fileExists(atPath: Processes.repositoryRoot + "/fixtures/pickle/hostile/PWNED"))
    }

    @Test("a pytorch_model.bin from before PyTorch 1.6 (not a zip archive) is refused by name")
    func modelPickle() throws {
        let tmp = TemporaryDirectory()
        let base = try copy("gpt2-tiny/base", into: tmp, as: "base")
        try FileManager.default.removeItem(atPath: base + "/model.safetensors")
        try FileManager.default.copyItem(
            atPath: Processes.repositoryRoot + "/fixtures/pickle/hostile/legacy-format.bin", toPath: base + "/pytorch_model.bin")
        let error = try expectRefused(base, in: tmp) as? FormatError
        #expect(error?.code == .unsupportedVersion && error?.description.contains("before 1.6") == true, "\(String(describing: error))")
    }

    @Test("a PEFT config that disagrees with its tensor names the field")
    func configDisagreesWithTensor() throws {
        let tmp = TemporaryDirectory()
        let adapter = try copy("gpt2-tiny/adapter", into: tmp, as: "adapter")
        var config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: adapter + "/adapter_config.json")))
            as? [String: Any] ?? [:]
        config["num_virtual_tokens"] = 7
        try writeJSON(config, adapter + "/adapter_config.json")
        var options = ImportOptions()
        options.base = Self.fixture("gpt2-tiny/base")
        let error = try expectRefused(adapter, options: options, in: tmp) as? FormatError
        #expect(error?.code == .inconsistent && error?.member == "num_virtual_tokens")
    }

    @Test(
        "an adapter for another base is refused naming the field, and its base is not imported",
        arguments: [
            ("llama-gqa-tiny/adapter", "gpt2-tiny/base")
        ])
    func adapterForAnotherBase(adapter: String, base: String) throws {
        let tmp = TemporaryDirectory()
        var options = ImportOptions()
        options.base = Self.fixture(base)
        let error = try expectRefused(Self.fixture(adapter), options: options, in: tmp) as? StorageError
        #expect(
            error?.code == .invalidArgument && error?.message.contains("does not fit this prefix") == true, "\(String(describing: error))")
        #expect(["num_attention_heads", "token_dim", "num_layers"].contains { error?.message.contains("(field \($0))") == true })
    }

    @Test("a non-prefix adapter (LoRA) is refused")
    func loraAdapter() throws {
        let tmp = TemporaryDirectory()
        let adapter = try copy("gpt2-tiny/adapter", into: tmp, as: "adapter")
        try writeJSON(["peft_type": "LORA", "r": 8], adapter + "/adapter_config.json")
        let error = try expectRefused(adapter, in: tmp) as? FormatError
        #expect(error?.description.contains("LORA, not PREFIX_TUNING") == true)
    }

    @Test(
        "shard names that leave the directory, links out of it, and index/shard disagreements",
        arguments: ["../escape.safetensors", "link", "mismatch"])
    func hostileShards(kind: String) throws {
        let tmp = TemporaryDirectory()
        let base = try copy("gpt2-tiny/base", into: tmp, as: "base")
        let file = try SafetensorsFile(path: base + "/model.safetensors")
        var map: [String: String] = [:]
        for entry in file.entries { map[entry.name] = "model-00001-of-00001.safetensors" }
        try FileManager.default.moveItem(atPath: base + "/model.safetensors", toPath: base + "/model-00001-of-00001.safetensors")
        switch kind {
        case "link":
            try FileManager.default.moveItem(atPath: base + "/model-00001-of-00001.safetensors", toPath: tmp.path + "/outside.safetensors")
            try FileManager.default.createSymbolicLink(
                atPath: base + "/model-00001-of-00001.safetensors", withDestinationPath: tmp.path + "/outside.safetensors")
        case "mismatch":
            map["ghost.weight"] = "model-00001-of-00001.safetensors"
        default:
            map[file.entries[0].name] = kind
        }
        try writeJSON(["metadata": ["total_size": 1], "weight_map": map], base + "/model.safetensors.index.json")
        let error = try expectRefused(base, in: tmp) as? FormatError
        #expect(error?.code == (kind == "mismatch" ? .inconsistent : .unsafePath), "\(String(describing: error))")
        if kind == "mismatch" { #expect(error?.member == "ghost.weight") }
    }

    @Test("an HF directory with a tensor the architecture does not use is refused by name")
    func unknownTensor() throws {
        let tmp = TemporaryDirectory()
        let base = try copy("gpt2-tiny/base", into: tmp, as: "base")
        let file = try SafetensorsFile(path: base + "/model.safetensors")
        var tensors = try file.entries.map { NamedTensor($0.name, try file.tensor($0)) }
        tensors.append(NamedTensor("transformer.h.0.attn.rotary.weight", Tensor(shape: [2], floats: [1, 2])))
        try SafetensorsWriter.write(tensors, metadata: [("format", "pt")], to: base + "/model.safetensors")
        let error = try expectRefused(base, in: tmp) as? ComputeError
        #expect(error?.code == .unknownWeight && error?.tensor == "transformer.h.0.attn.rotary.weight")
    }

    @Test("a truncated safetensors in an HF directory is a clear error naming the file")
    func truncatedWeights() throws {
        let tmp = TemporaryDirectory()
        let base = try copy("gpt2-tiny/base", into: tmp, as: "base")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: base + "/model.safetensors"))
        try handle.truncate(atOffset: 3000)
        try handle.close()
        let error = try expectRefused(base, in: tmp) as? FormatError
        #expect(error?.code == .incompleteBuffer && error?.path == base + "/model.safetensors")
    }

    @Test("prefix files with foreign keys, missing layers or mixed forms say what was found and expected")
    func badPrefixFiles() throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        _ = try Importer.run(store, source: Self.fixture("gpt2-tiny/base"))
        let p = { (l: Int) in Tensor(shape: [3, 16], floats: [Float](repeating: Float(l), count: 48)) }
        let cases: [([NamedTensor], String)] = [
            ([NamedTensor("weights", p(0))], "not a prefix"),
            ([NamedTensor("prefix.layer_00", p(0))], "holds 1 layer(s) of prefix, the base has 2"),
            (
                [
                    NamedTensor("prefix.layer_00", p(0)),
                    NamedTensor("prefix.layer_01.key", Builders.randomTensor(.f32, [2, 3, 8], seed: 1)),
                ], "mixes hidden"
            ),
            (
                [
                    NamedTensor("prefix.layer_00", p(0)),
                    NamedTensor("prefix.layer_01", Tensor(shape: [3, 5], floats: [Float](repeating: 0, count: 15))),
                ], "the base needs [3, 16]"
            ),
        ]
        for (i, (tensors, message)) in cases.enumerated() {
            let path = tmp.path + "/bad\(i).safetensors"
            try SafetensorsWriter.write(tensors, metadata: nil, to: path)
            var options = ImportOptions()
            options.base = try store.bases()[0].shortReference
            var caught: (any Error)?
            do { _ = try Importer.run(store, source: path, options: options) } catch { caught = error }
            #expect("\(caught.map { "\($0)" } ?? "no error")".contains(message), "case \(i): \(String(describing: caught))")
        }
        #expect(try store.checkpoints().isEmpty)
    }

    @Test("unrecognisable sources, missing bases and ambiguous bases")
    func detection() throws {
        let tmp = TemporaryDirectory()
        try Data("hello".utf8).write(to: URL(fileURLWithPath: tmp.path + "/notes.txt"))
        let text = try expectRefused(tmp.path + "/notes.txt", in: tmp) as? FormatError
        #expect(text?.description.contains("expected an HF model directory") == true)
        let store = try Store.create(at: tmp.path + "/s")
        let noBase = #expect(throws: StorageError.self) { try Importer.run(store, source: Self.fixture("gpt2-tiny/adapter")) }
        #expect(noBase?.description.contains("pass --base") == true)
        _ = try Importer.run(store, source: Self.fixture("gpt2-tiny/base"))
        var config =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.fixture("gpt2-tiny/base/config.json"))))
            as? [String: Any] ?? [:]
        config["layer_norm_epsilon"] = 1e-6
        let twin = try copy("gpt2-tiny/base", into: tmp, as: "twin")
        try writeJSON(config, twin + "/config.json")
        _ = try Importer.run(store, source: twin)
        var byShape = ImportOptions()
        byShape.baseByShape = true
        let ambiguous = #expect(throws: StorageError.self) {
            try Importer.run(store, source: Self.fixture("gpt2-tiny/adapter"), options: byShape)
        }
        #expect(ambiguous?.code == .ambiguous)
    }

    @Test("exports refuse an existing destination and NumPy-less dtypes")
    func exportRefusals() throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        var options = ImportOptions()
        options.base = Self.fixture("gpt2-tiny/base")
        let info = try #require(try Importer.run(store, source: Self.fixture("gpt2-tiny/adapter"), options: options).checkpoint)
        try Data().write(to: URL(fileURLWithPath: tmp.path + "/taken"))
        let exists = #expect(throws: StorageError.self) {
            try Exporter.run(store, reference: info.reference, format: .npz, out: tmp.path + "/taken")
        }
        #expect(exists?.code == .alreadyExists && exists?.description.contains("pass --force to replace it") == true)
        // With force, the destination is replaced once the new export is complete.
        _ = try Exporter.run(store, reference: info.reference, format: .npz, out: tmp.path + "/taken", force: true)
        #expect(try NPZ.read(path: tmp.path + "/taken").contains { $0.name == "prefix.layer_00.key" })
        let bf16 = #expect(throws: FormatError.self) {
            try Exporter.run(store, reference: info.reference, format: .npz, out: tmp.path + "/x.npz", dtype: .bf16)
        }
        #expect(bf16?.code == .unsupportedDType)
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/x.npz"))
    }
}
