import Foundation
import PrefixKit
import TestSupport
import Testing

/// PyTorch pickles through the command line: real `torch.save` / PEFT files import as the
/// safetensors they equal, and every file of the hostile corpus (`fixtures/pickle/hostile`,
/// written byte by byte by `fixtures/generate_pickles.py`) is refused by name, exit 3, with
/// nothing written and no code run.
@Suite("PyTorch pickles")
struct PickleImportTests {
    static let root = Processes.repositoryRoot + "/fixtures/pickle"
    static let peft = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    /// The store's one line of `list --json` per base and checkpoint.
    static func counts(_ store: String) throws -> (bases: Int, checkpoints: Int) {
        let run = try Processes.prefixkit(["list", store, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        return ((object?["bases"] as? [Any])?.count ?? -1, (object?["checkpoints"] as? [Any])?.count ?? -1)
    }

    @Test("pytorch_model.bin, single and sharded, imports as the same base as its safetensors (same fingerprint, nothing written)")
    func modelBin() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let first = try Processes.prefixkit(["import", store, Self.peft + "/base"])
        #expect(first.status == 0, "\(first.stderr)")
        for name in ["gpt2-bin", "gpt2-bin-sharded"] {
            let run = try Processes.prefixkit(["import", store, "\(Self.root)/\(name)"])
            #expect(run.status == 0, "\(name): \(run.stderr)")
            #expect(
                run.stdout.contains("was already stored: the same weights (fingerprint compared), nothing written")
                    && run.stdout.contains("wrote 0 B"),
                "\(run.stdout)")
        }
        // Alone, it makes a base whose every tensor digest equals the safetensors one's.
        let alone = dir.path + "/alone"
        #expect(try Processes.prefixkit(["import", alone, "\(Self.root)/gpt2-bin"]).status == 0)
        let digests = { (s: String) throws -> String in
            try Processes.run("/usr/bin/sqlite3", [s + "/catalog.sqlite", "SELECT fingerprint FROM base"]).stdout
        }
        #expect(try digests(alone) == digests(store))
    }

    @Test("a PEFT adapter saved with safe_serialization=False imports with prompt_embeddings bit-identical to the safetensors one")
    func adapterBin() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let bin = try Processes.prefixkit(["import", store, "\(Self.root)/adapter-bin", "--base", Self.peft + "/base", "--name", "bin"])
        #expect(bin.status == 0, "\(bin.stderr)")
        let safetensors = try Processes.prefixkit(["import", store, Self.peft + "/adapter", "--name", "st", "--base-by-shape"])
        // Content-addressed: the same prefix tensors are stored once.
        #expect(safetensors.status == 0 && safetensors.stdout.contains("wrote 0 B"), "\(safetensors.stdout)\(safetensors.stderr)")
        let verify = try Processes.prefixkit(["verify", store, "bin", "--reference", Self.peft + "/expected.npz", "--no-record"])
        #expect(verify.status == 0 && verify.stdout.contains("PASS"), "\(verify.stdout)\(verify.stderr)")
    }

    /// Each hostile file and what its refusal must say.
    static let hostile: [(String, String)] = [
        ("global-os-system", "refused global os.system"),
        ("global-posix-system", "refused global posix.system"),
        ("stack-global-subprocess", "refused global subprocess.getoutput"),
        ("reduce-builtin-eval", "refused global builtins.eval"),
        ("reduce-builtin-getattr", "refused global builtins.getattr"),
        ("newobj", "refused NEWOBJ"),
        ("inst", "refused INST"),
        ("obj", "refused OBJ"),
        ("build-on-list", "BUILD on something that is not a dictionary"),
        ("build-on-tensor", "BUILD on something that is not a dictionary"),
        ("memo-out-of-range", "memo entry 5 was never stored"),
        ("self-referencing", "a list that contains itself"),
        ("nesting-marks", "more than 4096 open marks"),
        ("nesting-tuples", "containers nested deeper than 64"),
        ("huge-long4", "a length of 2147483647 bytes runs past the pickle's end"),
        ("huge-binbytes", "a length of 4294967295 bytes runs past the pickle's end"),
        ("huge-binunicode8", "runs past the pickle's end"),
        ("storage-size-lies", "storage data/0 holds 24 bytes, but its id says 1000 f32 elements"),
        ("offset-beyond-storage", "offset 5) reaches past the end of storage 0"),
        ("stride-beyond-storage", "stride [4, 1], offset 0) reaches past the end of storage 0"),
        ("expanded-view", "is an expanded view"),
        ("storage-member-missing", "the archive has no data/7"),
        ("data-pkl-missing", "holds no archive/data.pkl"),
        ("duplicate-member", "member 'archive/data/0' appears twice"),
        ("escaping-member", "would leave the archive"),
        ("legacy-format", "a PyTorch file from before 1.6"),
    ]

    @Test(
        "every hostile pickle is refused naming the file and what was refused, exit 3, nothing written, no code run",
        arguments: hostile.map(\.0))
    func refused(name: String) throws {
        let expected = try #require(Self.hostile.first { $0.0 == name }?.1)
        let dir = TemporaryDirectory()
        let model = dir.path + "/model"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Self.peft + "/base/config.json", toPath: model + "/config.json")
        try FileManager.default.copyItem(atPath: "\(Self.root)/hostile/\(name).bin", toPath: model + "/pytorch_model.bin")
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["init", store]).status == 0)
        let run = try Processes.prefixkit(["import", store, model])
        #expect(run.status == 3, "\(name): exit \(run.status) \(run.stderr)")
        #expect(run.stderr.contains(expected) && run.stderr.contains("pytorch_model.bin"), "\(name): \(run.stderr)")
        #expect(try Self.counts(store) == (0, 0))
        #expect(try FileManager.default.contentsOfDirectory(atPath: store + "/blobs").isEmpty)
        // The payloads would create this file if anything ran them.
        #expect(!FileManager.default.fileExists(atPath: "\(Self.root)/hostile/PWNED"))
    }

    @Test("the code-running payloads are what they claim: each calls a global through REDUCE (disassembled by pickletools, never run)")
    func corpusIsHostile() throws {
        let script = """
            import sys, pickle, pickletools
            # Disassemble without executing: every payload names the global it would call.
            for name in sys.argv[1:]:
                import zipfile
                data = zipfile.ZipFile(name).read("archive/data.pkl")
                ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
                print(name.rsplit("/", 1)[1], any(o in ("GLOBAL", "STACK_GLOBAL", "INST") for o, _ in ops), any(o == "REDUCE" for o, _ in ops))
            """
        let names = ["global-os-system", "reduce-builtin-eval", "stack-global-subprocess"]
        let run = try Processes.python(script, names.map { "\(Self.root)/hostile/\($0).bin" })
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.split(separator: "\n").allSatisfy { $0.hasSuffix("True True") }, "\(run.stdout)")
    }
}
