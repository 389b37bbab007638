import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

/// Import and export against files the real tools wrote (fixtures/peft: transformers + PEFT).
@Suite("Converters: round trips")
struct ConverterRoundTripTests {
    static let models = ["gpt2-tiny", "llama-gqa-tiny"]
    static func dir(_ model: String) -> String { Processes.repositoryRoot + "/fixtures/peft/\(model)" }

    @Test("HF directory -> store -> HF directory is byte-identical (weights and files)", arguments: models)
    func hfRoundTrip(model: String) throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        let report = try Importer.run(store, source: Self.dir(model) + "/base")
        #expect(report.baseCreated && report.checkpoint == nil)
        let again = try Importer.run(store, source: Self.dir(model) + "/base")
        #expect(!again.baseCreated && again.bytesWritten == 0 && again.base.fingerprint == report.base.fingerprint)
        let out = tmp.path + "/hf"
        _ = try Exporter.run(store, reference: report.base.shortReference, format: .hf, out: out)
        for file in ["model.safetensors", "config.json", "generation_config.json"] {
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: out + "/" + file))
                    == Data(contentsOf: URL(fileURLWithPath: Self.dir(model) + "/base/" + file)), "\(file)")
        }
    }

    @Test("a sharded export re-imports to the same base, and Python reads every shard")
    func sharded() throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        let base = try Importer.run(store, source: Self.dir("llama-gqa-tiny") + "/base").base
        let report = try Exporter.run(store, reference: base.shortReference, format: .hf, out: tmp.path + "/sharded", maxShardSize: 8000)
        let shards = report.files.filter { $0.hasPrefix("model-") }
        #expect(shards.count > 1 && report.files.contains("model.safetensors.index.json"))
        let other = try Store.create(at: tmp.path + "/t")
        let reimported = try Importer.run(other, source: tmp.path + "/sharded")
        #expect(reimported.base.fingerprint == base.fingerprint && reimported.detected.contains("sharded"))
        let check = try Processes.python(
            """
            import json, sys
            from safetensors import safe_open
            d = sys.argv[1]
            index = json.load(open(d + "/model.safetensors.index.json"))
            n = 0
            for name, shard in index["weight_map"].items():
                with safe_open(d + "/" + shard, "numpy") as f:
                    assert name in f.keys(); n += 1
            print(n, index["metadata"]["total_size"])
            """, [tmp.path + "/sharded"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.hasPrefix("\(base.tensorCount) "))
    }

    @Test("a PEFT adapter imports on its base, forwards to PEFT's outputs and exports byte-identically", arguments: models)
    func peft(model: String) throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        let report = try Importer.run(
            store, source: Self.dir(model) + "/adapter",
            options: {
                var o = ImportOptions(); o.base = Self.dir(model) + "/base"; return o
            }())
        let info = try #require(report.checkpoint)
        #expect(info.form == .kv && info.prefixLength == 4 && report.baseCreated && info.name == "adapter")
        let expected = try ActivationExchange.read(path: Self.dir(model) + "/expected.npz")
        let input = try ForwardInput(ids: try #require(expected.inputIDs), mask: expected.attentionMask)
        let result = try store.stack(for: info).forward(input, as: Double.self, options: ForwardOptions(logits: true))
        let mask = input.mask
        let tolerance = model.hasPrefix("llama") ? 1e-6 : 1e-10  // HF's RoPE angles are float32
        #expect(Closeness.relativeError(try #require(result.logits), try #require(expected.logits)) { b, r in mask[b][r] } <= tolerance)
        _ = try Exporter.run(store, reference: info.reference, format: .peft, out: tmp.path + "/adapter")
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: tmp.path + "/adapter/adapter_model.safetensors"))
                == Data(contentsOf: URL(fileURLWithPath: Self.dir(model) + "/adapter/adapter_model.safetensors")))
        let ours =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp.path + "/adapter/adapter_config.json")))
            as? [String: Any]
        let theirs =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir(model) + "/adapter/adapter_config.json")))
            as? [String: Any]
        #expect(Set(ours?.keys ?? [:].keys) == Set(theirs?.keys ?? [:].keys))
        for key in ["num_virtual_tokens", "num_layers", "token_dim", "num_attention_heads", "peft_type", "task_type", "prefix_projection"] {
            #expect("\(ours?[key] ?? "-")" == "\(theirs?[key] ?? "-")", "\(key)")
        }
    }

    @Test(
        "prefix files: safetensors and npz exports re-import bit-identically, hidden and KV, with MLP and positions",
        arguments: [ExportFormat.safetensors, .npz])
    func prefixFiles(format: ExportFormat) throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        let base = try Importer.run(store, source: Self.dir("gpt2-tiny") + "/base").base
        var hidden = SyntheticModel.hiddenPrefix(base.config, prefixLength: 5, seed: 3)
        hidden.positions = PositionConvention(prefixStart: 0, inputStart: 7)
        hidden.mlp = [NamedTensor("embedding.weight", Builders.randomTensor(.f32, [5, 32], seed: 4))]
        try store.saveCheckpoint(hidden, as: CheckpointSpec(name: "h", step: 1, base: base.shortReference))
        try store.saveKeyValueForm(of: store.checkpoint("h"), name: "k", step: 1)
        for name in ["h", "k"] {
            let out = tmp.path + "/\(name).\(format.rawValue)"
            _ = try Exporter.run(store, reference: name, format: format, out: out)
            var options = ImportOptions()
            options.name = name + "-again"
            let report = try Importer.run(store, source: out, options: options)
            let again = try store.load(try #require(report.checkpoint))
            let original = try store.load(store.checkpoint(name))
            #expect(again.layers == original.layers && again.mlp == original.mlp && again.positions == original.positions, "\(name)")
            #expect(report.detected.contains(name == "h" ? "hidden" : "key/value"))
        }
    }

    @Test("a hidden checkpoint exported to PEFT holds its exact KV conversion; --dtype narrows only when asked")
    func hiddenToPEFT() throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        let base = try Importer.run(store, source: Self.dir("llama-gqa-tiny") + "/base").base
        try store.saveCheckpoint(
            SyntheticModel.hiddenPrefix(base.config, prefixLength: 3, seed: 9),
            as: CheckpointSpec(name: "h", step: 1, base: base.shortReference))
        let report = try Exporter.run(store, reference: "h", format: .peft, out: tmp.path + "/a")
        #expect(report.conversion?.contains("hidden -> key/value") == true)
        let adapter = try PEFTAdapter(path: tmp.path + "/a")
        let exact = try store.stack(for: store.checkpoint("h")).keyValuePrefix()
        #expect(try adapter.layers() == exact.layers)
        _ = try Exporter.run(store, reference: "h", format: .safetensors, out: tmp.path + "/b16.safetensors", dtype: .bf16)
        let narrowed = try SafetensorsFile(path: tmp.path + "/b16.safetensors")
        #expect(narrowed.entries.allSatisfy { $0.dtype == .bf16 })
        guard case .hidden(let p) = try store.load(store.checkpoint("h")).layers[0] else { Issue.record("not hidden"); return }
        #expect(try narrowed.tensor("prefix.layer_00") == p.converted(to: .bf16))
    }

    @Test("flat key/value tensors import with --layout flat-kv")
    func flatKV() throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        _ = try Importer.run(store, source: Self.dir("llama-gqa-tiny") + "/base")
        var options = ImportOptions()
        options.flatKV = true
        options.tensor = "prompt_embeddings"
        let report = try Importer.run(store, source: Self.dir("llama-gqa-tiny") + "/adapter/adapter_model.safetensors", options: options)
        let adapter = try PEFTAdapter(path: Self.dir("llama-gqa-tiny") + "/adapter")
        #expect(try store.load(try #require(report.checkpoint)).layers == adapter.layers())
    }
}

@Suite("Converters: seeded property round trips")
struct ConverterPropertyTests {
    @Test("random checkpoints (form, Pn, float dtype, MLP) round-trip bit-exactly through safetensors and npz")
    func property() throws {
        let tmp = TemporaryDirectory()
        let store = try Store.create(at: tmp.path + "/s")
        let base = try Importer.run(store, source: Processes.repositoryRoot + "/fixtures/peft/llama-gqa-tiny/base").base
        let config = base.config
        var random = SeededRandom(seed: 77)
        for round in 0..<12 {
            let pn = Int(1 + random.next() % 6)
            let dtype = [DType.f32, .f16, .bf16, .f64][Int(random.next() % 4)]
            let hidden = random.next() % 2 == 0
            let layers: [LayerPrefix] = (0..<config.numLayers).map { _ in
                hidden
                    ? .hidden(Builders.randomTensor(dtype, [pn, config.hiddenSize], seed: random.next()))
                    : .kv(
                        key: Builders.randomTensor(dtype, [config.numKVHeads, pn, config.headDim], seed: random.next()),
                        value: Builders.randomTensor(dtype, [config.numKVHeads, pn, config.headDim], seed: random.next()))
            }
            var content = CheckpointContent(form: hidden ? .hidden : .kv, prefixLength: pn, layers: layers)
            if random.next() % 2 == 0 {
                content.mlp = [NamedTensor("embedding.weight", Builders.randomTensor(dtype, [pn, 4], seed: random.next()))]
            }
            let name = "r\(round)"
            try store.saveCheckpoint(content, as: CheckpointSpec(name: name, step: 0, base: base.shortReference))
            for format in [ExportFormat.safetensors, .npz] where !(format == .npz && dtype == .bf16) {
                let out = tmp.path + "/\(name).\(format.rawValue)"
                _ = try Exporter.run(store, reference: name, format: format, out: out)
                var options = ImportOptions()
                options.name = "\(name)-\(format.rawValue)"
                let back = try store.load(try #require(try Importer.run(store, source: out, options: options).checkpoint))
                #expect(back.layers == content.layers && back.mlp == content.mlp && back.form == content.form, "\(name) \(format)")
            }
        }
    }
}
