import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

/// Conversions between prefix files that need no base and no store.
@Suite("File-to-file conversion without a base")
struct FileConverterTests {
    static let fixtures = Processes.repositoryRoot + "/fixtures"

    static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test(
        "PEFT -> npz -> safetensors -> PEFT gives the adapter back byte for byte, with no base and no store",
        arguments: ["peft/gpt2-tiny/adapter", "seq2seq/t5/adapter", "seq2seq/bart/adapter", "heads/bert-seq-cls/adapter"])
    func adapterRoundTrip(adapter: String) throws {
        let dir = TemporaryDirectory()
        let source = Self.fixtures + "/" + adapter
        let npz = try FileConverter.run(source: source, format: .npz, out: dir.path + "/p.npz")
        #expect(npz.conversion == nil && npz.files == ["p.npz"])
        _ = try FileConverter.run(source: dir.path + "/p.npz", format: .safetensors, out: dir.path + "/p.safetensors")
        let back = try FileConverter.run(source: dir.path + "/p.safetensors", format: .peft, out: dir.path + "/back")
        #expect(back.conversion == nil)
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            #expect(try Self.bytes(source + "/" + file) == Self.bytes(dir.path + "/back/" + file), "\(adapter): \(file)")
        }
        // Nothing but the outputs was written: no store, no temporaries.
        let written = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(written == ["back", "p.npz", "p.safetensors"])
    }

    @Test("the file it writes holds what import --base + export writes, and the adapter config besides")
    func sameAsThroughTheStore() throws {
        let dir = TemporaryDirectory()
        let fixture = Self.fixtures + "/peft/gpt2-tiny"
        _ = try FileConverter.run(source: fixture + "/adapter", format: .safetensors, out: dir.path + "/direct.safetensors")
        let store = try Store.create(at: dir.path + "/s")
        var options = ImportOptions()
        options.base = fixture + "/base"
        let imported = try Importer.run(store, source: fixture + "/adapter", options: options)
        let reference = try #require(imported.checkpoint?.reference)
        _ = try Exporter.run(store, reference: reference, format: .safetensors, out: dir.path + "/stored.safetensors")
        let direct = try PrefixFile.read(path: dir.path + "/direct.safetensors")
        let stored = try PrefixFile.read(path: dir.path + "/stored.safetensors")
        #expect(direct.tensors.map(\.name) == stored.tensors.map(\.name))
        #expect(zip(direct.tensors, stored.tensors).allSatisfy { $0.tensor == $1.tensor })
        var expected = stored.metadata
        expected["base_fingerprint"] = nil
        expected[PrefixFile.peftConfigKey] = try String(contentsOfFile: fixture + "/adapter/adapter_config.json", encoding: .utf8)
        #expect(direct.metadata == expected)
        // The store's export carries the config it writes to PEFT (naming the base it knows):
        // converted to PEFT without the base, it is that export byte for byte.
        _ = try FileConverter.run(source: dir.path + "/stored.safetensors", format: .peft, out: dir.path + "/offline")
        _ = try Exporter.run(store, reference: reference, format: .peft, out: dir.path + "/exported")
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            #expect(try Self.bytes(dir.path + "/offline/" + file) == Self.bytes(dir.path + "/exported/" + file), "\(file)")
        }
        // Imported back, the file's adapter config is kept with the checkpoint.
        var again = ImportOptions()
        again.name = "again"
        let second = try Importer.run(store, source: dir.path + "/direct.safetensors", options: again)
        #expect(second.checkpoint?.provenance.adapterConfig == expected[PrefixFile.peftConfigKey])
    }

    @Test("a key/value file without an adapter config becomes an adapter with PEFT's defaults, said in the report")
    func withoutAdapterConfig() throws {
        let dir = TemporaryDirectory()
        let adapter = Self.fixtures + "/peft/gpt2-tiny/adapter"
        // NumPy splits PEFT's flat tensor by its documented layout: column ((2l + kv) * H + h) * hd + e.
        let script = """
            import sys, numpy as np
            from safetensors.numpy import load_file
            flat = load_file(sys.argv[1] + "/adapter_model.safetensors")["prompt_embeddings"]
            L, H = 2, 2
            pn, width = flat.shape
            hd = width // (L * 2 * H)
            t = flat.reshape(pn, L, 2, H, hd).transpose(1, 2, 3, 0, 4)
            out = {}
            for l in range(L):
                out[f"prefix.layer_{l:02d}.key"] = t[l, 0]
                out[f"prefix.layer_{l:02d}.value"] = t[l, 1]
            np.savez(sys.argv[2], **out)
            """
        let made = try Processes.python(script, [adapter, dir.path + "/kv.npz"])
        try #require(made.status == 0, "\(made.stderr)")
        let report = try FileConverter.run(source: dir.path + "/kv.npz", format: .peft, out: dir.path + "/peft")
        #expect(report.conversion?.contains("written without a base") == true, "\(report.conversion ?? "")")
        #expect(try Self.bytes(adapter + "/adapter_model.safetensors") == Self.bytes(dir.path + "/peft/adapter_model.safetensors"))
        let config = try PEFTAdapter(path: dir.path + "/peft").config
        #expect(
            config.numLayers == 2 && config.numVirtualTokens == 4 && config.baseModelNameOrPath == nil && config.taskType == "CAUSAL_LM")
    }

    @Test("a hidden-form prefix converts between npz and safetensors without a base, but not to PEFT")
    func hiddenForm() throws {
        let dir = TemporaryDirectory()
        let hidden = Self.fixtures + "/peft/gpt2-tiny/hidden_prefix.npz"
        _ = try FileConverter.run(source: hidden, format: .safetensors, out: dir.path + "/h.safetensors")
        let read = try PrefixFile.read(path: dir.path + "/h.safetensors")
        let original = try PrefixFile.read(path: hidden)
        #expect(
            read.tensors.map(\.name) == original.tensors.map(\.name)
                && zip(read.tensors, original.tensors).allSatisfy { $0.tensor == $1.tensor })
        #expect(read.metadata["form"] == "hidden")
        #expect {
            try FileConverter.run(source: hidden, format: .peft, out: dir.path + "/p")
        } throws: { error in
            (error as? StorageError)?.code == .invalidArgument && "\(error)".contains("pass --base DIR")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/p"))
    }

    @Test("an adapter config in the metadata that no longer describes the prefix is refused, naming the field")
    func staleAdapterConfig() throws {
        let dir = TemporaryDirectory()
        _ = try FileConverter.run(source: Self.fixtures + "/peft/gpt2-tiny/adapter", format: .npz, out: dir.path + "/p.npz")
        let script = """
            import sys, json, numpy as np
            z = dict(np.load(sys.argv[1]))
            meta = json.loads(str(z["meta"]))
            config = json.loads(meta["peft_config"])
            config["num_virtual_tokens"] = 7
            meta["peft_config"] = json.dumps(config)
            z["meta"] = np.array(json.dumps(meta))
            np.savez(sys.argv[1], **z)
            """
        let edited = try Processes.python(script, [dir.path + "/p.npz"])
        try #require(edited.status == 0, "\(edited.stderr)")
        #expect {
            try FileConverter.run(source: dir.path + "/p.npz", format: .peft, out: dir.path + "/back")
        } throws: { error in
            (error as? FormatError)?.member == "peft_config" && "\(error)".contains("num_virtual_tokens is 7 but the prefix has 4")
        }
    }

    @Test("an adapter config beyond the size bound is refused, not parsed: by the file's reader, and by the config parser")
    func oversizedAdapterConfig() throws {
        let dir = TemporaryDirectory()
        _ = try FileConverter.run(source: Self.fixtures + "/peft/gpt2-tiny/adapter", format: .safetensors, out: dir.path + "/p.safetensors")
        // (An .npz cannot carry it at all: its reader refuses string arrays that wide.)
        let script = """
            import sys
            from safetensors import safe_open
            from safetensors.numpy import save_file
            with safe_open(sys.argv[1], "np") as f:
                meta = dict(f.metadata())
                tensors = {k: f.get_tensor(k) for k in f.keys()}
            meta["peft_config"] = " " * (2 << 20) + meta["peft_config"]
            save_file(tensors, sys.argv[1], metadata=meta)
            """
        let edited = try Processes.python(script, [dir.path + "/p.safetensors"])
        try #require(edited.status == 0, "\(edited.stderr)")
        #expect {
            try FileConverter.run(source: dir.path + "/p.safetensors", format: .peft, out: dir.path + "/back")
        } throws: { error in
            error is FormatError && "\(error)".contains("string too long")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/back"))
        let oversized = [UInt8]("{\"peft_type\": \"PREFIX_TUNING\"}".utf8) + [UInt8](repeating: 0x20, count: PEFTAdapter.maxConfigBytes)
        #expect {
            try PEFTAdapter.parseConfig(oversized, path: "x")
        } throws: { error in
            (error as? FormatError)?.code == .outOfRange && "\(error)".contains("beyond the limit")
        }
    }

    @Test("without a base, the layer count is the names': a gap or a missing half is named, with the complete layers counted")
    func incompleteLayers() throws {
        let dir = TemporaryDirectory()
        let script = """
            import sys, numpy as np
            a = np.zeros((2, 4, 8), np.float32)
            np.savez(sys.argv[1] + "/gap.npz", **{"prefix.layer_00.key": a, "prefix.layer_00.value": a, "prefix.layer_05.key": a, "prefix.layer_05.value": a})
            np.savez(sys.argv[1] + "/half.npz", **{"prefix.layer_00.key": a})
            """
        let made = try Processes.python(script, [dir.path])
        try #require(made.status == 0, "\(made.stderr)")
        for (file, expected) in [
            ("gap", "names layers up to 5 but holds 2 complete one(s)"), ("half", "names layers up to 0 but holds 0 complete one(s)"),
        ] {
            #expect {
                try FileConverter.run(source: dir.path + "/\(file).npz", format: .safetensors, out: dir.path + "/\(file).safetensors")
            } throws: { error in
                (error as? FormatError)?.code == .inconsistent && "\(error)".contains(expected) && !"\(error)".contains("the base")
            }
        }
    }

    @Test("PrefixFile metadata is written as JSON: quotes, newlines and leading zeros in a value survive the npz")
    func metadataEscaping() throws {
        let dir = TemporaryDirectory()
        let value = "{\n  \"a\": \"b\\\\c\"\n}"
        let tensor = try Tensor(zeros: .f32, shape: [2, 3, 4])
        try PrefixFile.write(
            [NamedTensor("prefix.layer_00.key", tensor), NamedTensor("prefix.layer_00.value", tensor)],
            metadata: [("form", "kv"), ("Pn", "3"), ("note", value), ("code", "007")], to: dir.path + "/m.npz", format: .npz)
        let metadata = try PrefixFile.read(path: dir.path + "/m.npz").metadata
        // "007" is no JSON number: written as a string, it reads back as written.
        #expect(metadata["note"] == value && metadata["code"] == "007" && metadata["Pn"] == "3")
    }
}
