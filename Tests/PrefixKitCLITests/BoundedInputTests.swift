import Foundation
import PrefixKit
import TestSupport
import Testing

/// Hostile-shaped inputs are refused from their headers, before memory or time is spent on them.
@Suite("Bounded memory and time on hostile-shaped input")
struct BoundedInputTests {
    /// An `.npz` of 2 MB whose `layer_00.input` member inflates to 2 GiB of zeros.
    static func bomb(_ path: String) throws {
        let run = try Processes.python(
            """
            import sys, zipfile, struct, io, numpy as np
            hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 134217728, 4), }"
            hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\\n'
            head = b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', len(hdr)) + hdr.encode()
            with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
                ids = io.BytesIO(); np.save(ids, np.array([[1, 2, 3, 4]])); z.writestr('input_ids.npy', ids.getvalue())
                with z.open('layer_00.input.npy', 'w', force_zip64=True) as f:
                    f.write(head)
                    for _ in range(128): f.write(b'\\0' * (1 << 24))
            """, [path])
        #expect(run.status == 0, "\(run.stderr)")
    }

    /// Runs `prefixkit` under `/usr/bin/time`, returning the result and the peak RSS in KB.
    static func measured(_ arguments: [String]) throws -> (ProcessResult, Int) {
        let run = try Processes.run("/usr/bin/time", ["-f", "peak-rss-kb %M", Processes.prefixkit] + arguments)
        let line = run.stderr.split(separator: "\n").last { $0.hasPrefix("peak-rss-kb ") } ?? ""
        return (run, Int(line.dropFirst(12)) ?? .max)
    }

    @Test(
        "an .npz member that inflates to 2 GiB is refused from its header by verify, probe add, forward and import: under 200 MB of memory")
    func inflationBomb() throws {
        let dir = TemporaryDirectory()
        let store = try HostileInputTests.demoStore(dir)
        let bomb = dir.path + "/bomb.npz"
        try Self.bomb(bomb)
        for command in [
            ["verify", store, "demo", "--reference", bomb, "--no-record"], ["probe", "add", store, "demo", bomb],
            ["forward", store, "demo", "--input", bomb], ["import", store, bomb, "--name", "b"],
        ] {
            let (run, rss) = try Self.measured(command)
            #expect(run.signal == nil && run.status != 0 || command[0] == "forward", "\(command): \(run.stderr)")
            #expect(rss < 200_000, "\(command) peaked at \(rss) KB")
        }
        let (verify, _) = try Self.measured(["verify", store, "demo", "--reference", bomb, "--no-record"])
        #expect(verify.status == 3 && verify.stderr.contains("'layer_00.input' has shape [1, 134217728, 4]"), "\(verify.stderr)")
        let (imported, _) = try Self.measured(["import", store, bomb, "--name", "b"])
        #expect(imported.status == 3 && imported.stderr.contains("more than"), "\(imported.stderr)")
    }

    @Test("a reference without inputs whose other member inflates to 512 MiB: verify reads only the members the format names")
    func referenceWithoutInputs() throws {
        let dir = TemporaryDirectory()
        let store = try HostileInputTests.demoStore(dir)
        let bomb = dir.path + "/noinputs.npz"
        let made = try Processes.python(
            """
            import sys, zipfile, struct
            hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (134217728,), }"
            hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\\n'
            with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
                with z.open('junk.npy', 'w', force_zip64=True) as f:
                    f.write(b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
                    for _ in range(32): f.write(b'\\0' * (1 << 24))
            """, [bomb])
        try #require(made.status == 0, "\(made.stderr)")
        let (run, rss) = try Self.measured(["verify", store, "demo", "--reference", bomb, "--no-record"])
        #expect(run.signal == nil && run.stdout.contains("no usable inputs"), "\(run.stdout)\(run.stderr)")
        #expect(rss < 200_000, "verify peaked at \(rss) KB")
    }

    @Test("a prefix tensor's shape is checked from the header: a 1-D layer or Pn above 65,536 is refused before a byte is read")
    func prefixShapes() throws {
        let dir = TemporaryDirectory()
        let made = try Processes.python(
            """
            import sys, numpy as np
            from safetensors.numpy import save_file
            d = sys.argv[1]
            np.savez(d + '/oned.npz', **{'prefix.layer_00': np.zeros(64, np.float32), 'prefix.layer_01': np.zeros(64, np.float32)})
            save_file({'prefix.layer_00': np.zeros(64, np.float32)}, d + '/oned.safetensors')
            np.savez(d + '/long.npz', **{'prefix.layer_00.key': np.zeros((1, 65537, 1), np.float32)})
            np.savez(d + '/flat.npz', prompt=np.zeros(64, np.float32))
            """, [dir.path])
        try #require(made.status == 0, "\(made.stderr)")
        for (file, message) in [
            ("oned.npz", "'prefix.layer_00' has shape [64]; a hidden-form prefix is [Pn, d]"),
            ("oned.safetensors", "'prefix.layer_00' has shape [64]; a hidden-form prefix is [Pn, d]"),
            ("long.npz", "prefix length of 65537; PrefixKit reads prefixes of 1 to 65536 vectors"),
        ] {
            let run = try Processes.prefixkit([
                "convert", dir.path + "/" + file, dir.path + "/out-" + file + ".safetensors", "--to", "safetensors",
            ])
            #expect(run.status == 3 && run.stderr.contains(message), "\(file): \(run.stderr)")
            #expect(!FileManager.default.fileExists(atPath: dir.path + "/out-" + file + ".safetensors"))
        }
        let adapter = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"
        let flat = try Processes.prefixkit([
            "convert", dir.path + "/flat.npz", dir.path + "/flat-out.npz", "--to", "npz", "--layout", "flat-kv", "--base",
            adapter + "/base",
        ])
        #expect(flat.status != 0 && flat.stderr.contains("a flat key/value prefix is [Pn, L * 2 * token_dim]"), "\(flat.stderr)")
    }

    @Test("a sparse 1 GB adapter_config.json is sized before it is read: import refuses it in a few MB")
    func sparseAdapterConfig() throws {
        let dir = TemporaryDirectory()
        let adapter = dir.path + "/adapter"
        try FileManager.default.createDirectory(atPath: adapter, withIntermediateDirectories: true)
        try #require(FileManager.default.createFile(atPath: adapter + "/adapter_config.json", contents: nil))
        try #require(truncate(adapter + "/adapter_config.json", 1 << 30) == 0)
        #expect(FileManager.default.createFile(atPath: adapter + "/adapter_model.safetensors", contents: Data()))
        let (run, rss) = try Self.measured(["import", dir.path + "/s", adapter])
        #expect(run.signal == nil && run.status == 3 && run.stderr.contains("more than the 1048576 PrefixKit reads whole"), "\(run.stderr)")
        #expect(rss < 200_000, "import peaked at \(rss) KB")
    }

    @Test("a large safetensors prefix converts to npz and safetensors tensor by tensor: peak memory under the largest tensor + 256 MiB")
    func streamingConversion() throws {
        let dir = TemporaryDirectory()
        let source = dir.path + "/big.safetensors"
        // Four hidden-form layers of [16384, 2048] f32 (128 MiB each), laid out by hand, sparse.
        let made = try Processes.python(
            """
            import json, struct, sys
            n = 16384 * 2048 * 4
            header = {f"prefix.layer_{l:02d}": {"dtype": "F32", "shape": [16384, 2048], "data_offsets": [l * n, (l + 1) * n]} for l in range(4)}
            text = json.dumps(header).encode()
            text += b" " * (-len(text) % 8)
            with open(sys.argv[1], "wb") as f:
                f.write(struct.pack("<Q", len(text)) + text)
                f.truncate(8 + len(text) + 4 * n)
            """, [source])
        try #require(made.status == 0, "\(made.stderr)")
        for format in ["npz", "safetensors"] {
            let (run, rss) = try Self.measured(["convert", source, dir.path + "/out." + format, "--to", format])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(rss < (128 + 256) * 1024, "convert to \(format) peaked at \(rss / 1024) MB")
            try? FileManager.default.removeItem(atPath: dir.path + "/out." + format)
        }
    }

    @Test("a large .npz (stored or deflated) inflates member by member into file-backed pages: peak memory bounded")
    func streamingNPZ() throws {
        let dir = TemporaryDirectory()
        // Eight layers of [8192, 2048] f32 (64 MiB each, 512 MiB in all).
        let made = try Processes.python(
            """
            import sys, numpy as np
            arrays = {f"prefix.layer_{l:02d}": np.full((8192, 2048), l + 0.5, dtype=np.float32) for l in range(8)}
            np.savez(sys.argv[1] + "/stored.npz", **arrays)
            np.savez_compressed(sys.argv[1] + "/deflated.npz", **arrays)
            """, [dir.path])
        try #require(made.status == 0, "\(made.stderr)")
        for name in ["stored", "deflated"] {
            let out = dir.path + "/\(name).safetensors"
            let (run, rss) = try Self.measured(["convert", dir.path + "/\(name).npz", out, "--to", "safetensors"])
            #expect(run.status == 0, "\(run.stderr)")
            #expect(rss < (64 + 256) * 1024, "\(name): convert peaked at \(rss / 1024) MB")
            try? FileManager.default.removeItem(atPath: out)
        }
    }

    @Test("members inflated into file-backed pages keep their values: seeded arrays past the spill threshold convert exactly")
    func spilledValues() throws {
        let dir = TemporaryDirectory()
        let made = try Processes.python(
            """
            import sys, numpy as np
            rng = np.random.default_rng(7)
            arrays = {f"prefix.layer_{l:02d}": rng.standard_normal((2048, 2048 + l), dtype=np.float32) for l in range(3)}
            np.savez(sys.argv[1] + "/stored.npz", **arrays)
            np.savez_compressed(sys.argv[1] + "/deflated.npz", **arrays)
            """, [dir.path])
        try #require(made.status == 0, "\(made.stderr)")
        for name in ["stored", "deflated"] {
            let out = dir.path + "/\(name).safetensors"
            let run = try Processes.prefixkit(["convert", dir.path + "/\(name).npz", out, "--to", "safetensors"])
            #expect(run.status == 0, "\(run.stderr)")
            let same = try Processes.python(
                """
                import sys, numpy as np
                from safetensors.numpy import load_file
                a, b = np.load(sys.argv[1]), load_file(sys.argv[2])
                assert sorted(a.files) == sorted(b), (a.files, list(b))
                for k in a.files: assert np.array_equal(a[k], b[k]), k
                """, [dir.path + "/\(name).npz", out])
            #expect(same.status == 0, "\(name): \(same.stderr)")
        }
    }

    @Test("input ids longer than the model's positions are refused from the .npy header")
    func longInput() throws {
        let dir = TemporaryDirectory()
        let store = try HostileInputTests.demoStore(dir)
        let ids = dir.path + "/ids.npy"
        // A header claiming [1, 100000000] int64 over a short body: only the header is read.
        let made = try Processes.python(
            """
            import sys, struct
            hdr = "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 100000000), }"
            hdr += ' ' * ((64 - (10 + len(hdr) + 1) % 64) % 64) + '\\n'
            open(sys.argv[1], 'wb').write(b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', len(hdr)) + hdr.encode() + b'\\0' * 64)
            """, [ids])
        #expect(made.status == 0)
        let (run, rss) = try Self.measured(["forward", store, "demo", "--input", ids])
        #expect(run.status == 3 && run.stderr.contains("holds 100000000 tokens, beyond the model's maximum"), "\(run.stderr)")
        #expect(rss < 200_000)
    }

    @Test("a shard index mapping a million tensors is refused at once")
    func hugeIndex() throws {
        let dir = TemporaryDirectory()
        let model = dir.path + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        let base = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/base"
        try FileManager.default.copyItem(atPath: base + "/config.json", toPath: model + "/config.json")
        try FileManager.default.copyItem(atPath: base + "/model.safetensors", toPath: model + "/model-00001-of-00001.safetensors")
        let made = try Processes.python(
            """
            import sys, json
            json.dump({"metadata": {}, "weight_map": {f"t{i}": "model-00001-of-00001.safetensors" for i in range(int(sys.argv[2]))}}, open(sys.argv[1], "w"))
            """, [model + "/model.safetensors.index.json", "1000000"])
        #expect(made.status == 0)
        let started = Date()
        let run = try Processes.prefixkit(["import", dir.path + "/s", model])
        #expect(run.status == 3 && run.stderr.contains("the shard index"), "\(run.stderr)")
        #expect(Date().timeIntervalSince(started) < 10)
        _ = try Processes.python(
            """
            import sys, json
            json.dump({"metadata": {}, "weight_map": {f"t{i}": "model-00001-of-00001.safetensors" for i in range(int(sys.argv[2]))}}, open(sys.argv[1], "w"))
            """, [model + "/model.safetensors.index.json", "150000"])
        let many = try Processes.prefixkit(["import", dir.path + "/s", model])
        #expect(many.status == 3 && many.stderr.contains("maps more than 100000 tensors"), "\(many.stderr)")
    }

    @Test("an HF directory's large extra file is skipped, not read into memory")
    func largeExtraFile() throws {
        let dir = TemporaryDirectory()
        let model = dir.path + "/model"
        try FileManager.default.copyItem(atPath: Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/base", toPath: model)
        #expect(FileManager.default.createFile(atPath: model + "/huge.json", contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: model + "/huge.json"))
        try handle.truncate(atOffset: 500_000_000)
        try handle.close()
        let (run, rss) = try Self.measured(["import", dir.path + "/s", model])
        #expect(run.status == 0 && run.stdout.contains("skipped huge.json (larger than"), "\(run.stdout)\(run.stderr)")
        #expect(rss < 200_000)
    }
}
