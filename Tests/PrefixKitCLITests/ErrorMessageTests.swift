import Foundation
import PrefixKit
import TestSupport
import Testing

/// Errors that say what to do instead of what a library said.
@Suite("Errors that say what to do")
struct ErrorMessageTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    @Test(
        "a file of a model or adapter directory, given instead of the directory, gets told to pass the directory",
        arguments: [
            "base/model.safetensors", "base/config.json", "adapter/adapter_model.safetensors", "adapter/adapter_config.json",
        ])
    func fileInsteadOfFolder(file: String) throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit(["import", dir.path + "/s", "\(Self.fixture)/\(file)", "--base", Self.fixture + "/base"])
        let folder = (("\(Self.fixture)/\(file)") as NSString).deletingLastPathComponent
        #expect(run.status == 3 && run.stderr.contains("pass the directory itself (prefixkit import STORE \(folder))"), "\(run.stderr)")
    }

    @Test("an empty STORE is a usage error; an export Foundation cannot write names the file and the system's reason")
    func emptyStoreAndUnwritableExport() throws {
        let dir = TemporaryDirectory()
        for command in [["import", "", Self.fixture + "/base"], ["list", ""], ["init", ""]] {
            let run = try Processes.prefixkit(command)
            #expect(run.status == 2 && run.stderr.hasPrefix("error: STORE is empty"), "\(command): \(run.stderr)")
        }
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/base"]).status == 0)
        let base = try #require(try Store.open(at: store).bases().first)
        for arguments in [[], ["--json"]] {
            let run = try Processes.prefixkit(
                ["export", store, base.shortReference, "--format", "hf", "--out", "/proc/prefixkit-out"] + arguments)
            #expect(run.status == 3 && run.stderr.contains("No such file or directory"), "\(run.stderr)")
            #expect(!run.stderr.contains("Error Domain") && !run.stderr.contains("NSCocoaErrorDomain"), "\(run.stderr)")
        }
    }

    @Test("a --base that is neither a directory nor a stored base says so, listing what is stored, and names no checkpoint")
    func missingBase() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let empty = try Processes.prefixkit(["import", store, Self.fixture + "/adapter", "--base", "typo"])
        #expect(
            empty.status == 2 && empty.stderr.contains("--base 'typo': no such directory")
                && empty.stderr.contains("the store holds no base"), "\(empty.stderr)")
        #expect(!empty.stderr.contains("checkpoint typo"), "\(empty.stderr)")
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/base"]).status == 0)
        let stored = try Processes.prefixkit(["import", store, Self.fixture + "/adapter", "--base", "bsae/"])
        #expect(stored.status == 2 && stored.stderr.contains("stored: base:"), "\(stored.stderr)")
    }

    @Test("verify checks its report paths before the work, in words, not a Foundation error after it", arguments: ["--junit", "--html"])
    func reportPaths(flag: String) throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/adapter", "--base", Self.fixture + "/base"]).status == 0)
        let missing = try Processes.prefixkit(["verify", store, flag, dir.path + "/nodir/report"])
        #expect(missing.status == 2 && missing.stderr.contains("the directory \(dir.path)/nodir does not exist"), "\(missing.stderr)")
        #expect(
            !missing.stderr.contains("NSCocoaErrorDomain") && !missing.stdout.contains("verify \(store)"),
            "\(missing.stdout)\(missing.stderr)")
        let directory = try Processes.prefixkit(["verify", store, flag, dir.path])
        #expect(directory.status == 2 && directory.stderr.contains("is a directory"), "\(directory.stderr)")
    }

    @Test("an .npy given where an exchange .npz belongs is named as such, not as a zip library's error")
    func npyForNpz() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/adapter", "--base", Self.fixture + "/base"]).status == 0)
        let npy = try Processes.python("import numpy as np, sys; np.save(sys.argv[1], np.zeros(3))", [dir.path + "/r.npy"])
        #expect(npy.status == 0)
        let run = try Processes.prefixkit(["verify", store, "adapter", "--reference", dir.path + "/r.npy"])
        #expect(run.status == 3 && run.stderr.contains("an .npy file (one array), not an .npz archive"), "\(run.stderr)")
        #expect(!run.stderr.contains("missingEndOfCentralDirectoryRecord"))
    }

    @Test("an existing destination is a usage error (2) unless --force, which replaces it; the store itself is never a destination")
    func existingDestination() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/adapter", "--base", Self.fixture + "/base"]).status == 0)
        let out = dir.path + "/taken.npz"
        try Data("old".utf8).write(to: URL(fileURLWithPath: out))
        let refused = try Processes.prefixkit(["export", store, "adapter", "--format", "npz", "--out", out])
        #expect(refused.status == 2 && refused.stderr.contains("pass --force to replace it"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "old")
        let forced = try Processes.prefixkit(["export", store, "adapter", "--format", "npz", "--out", out, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try NPZ.read(path: out).contains { $0.name == "prefix.layer_00.key" })
        let converted = try Processes.prefixkit([
            "convert", Self.fixture + "/adapter", out, "--to", "npz", "--base", Self.fixture + "/base",
        ])
        #expect(converted.status == 2, "\(converted.stderr)")
        let inside = try Processes.prefixkit(["export", store, "adapter", "--format", "npz", "--out", store + "/catalog.sqlite", "--force"])
        #expect(inside.status == 2 && inside.stderr.contains("inside the store"), "\(inside.stderr)")
        #expect(try Processes.prefixkit(["check", store]).status == 0)
    }

    @Test("convert between prefix files needs no base; hidden -> PEFT asks for one; a store given as --base is named as such")
    func convertWithoutBase() throws {
        let dir = TemporaryDirectory()
        let npz = dir.path + "/p.npz"
        let plain = try Processes.prefixkit(["convert", Self.fixture + "/adapter", npz, "--to", "npz"])
        #expect(plain.status == 0 && plain.stdout.contains("no base needed"), "\(plain.stderr)")
        let back = try Processes.prefixkit(["convert", npz, dir.path + "/back", "--to", "peft", "--json"])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try Processes.validateJSON(back.stdout, schema: "export.schema.json").status == 0)
        let hidden = try Processes.prefixkit(["convert", Self.fixture + "/hidden_prefix.npz", dir.path + "/h", "--to", "peft"])
        #expect(hidden.status == 2 && hidden.stderr.contains("pass --base DIR"), "\(hidden.stderr)")
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/base"]).status == 0)
        for command in [
            ["convert", Self.fixture + "/hidden_prefix.npz", dir.path + "/h", "--to", "peft", "--base", store],
            ["import", dir.path + "/other", Self.fixture + "/adapter", "--base", store],
        ] {
            let refused = try Processes.prefixkit(command)
            #expect(refused.status == 2 && refused.stderr.contains("is a PrefixKit store, not an HF model directory"), "\(refused.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path + "/h") && !FileManager.default.fileExists(atPath: dir.path + "/other"))
    }

    @Test("import again says nothing was written; delete --all-steps and --dry-run, gc --dry-run say what goes, JSON validates")
    func reimportAndDryRuns() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let source = [Self.fixture + "/adapter", "--base", Self.fixture + "/base", "--name", "run"]
        #expect(try Processes.prefixkit(["import", store] + source).status == 0)
        let again = try Processes.prefixkit(["import", store] + source)
        #expect(
            again.status == 0 && again.stdout.contains("run@0 holds this prefix already") && again.stdout.contains("wrote 0 B"),
            "\(again.stdout)")
        let json = try Processes.prefixkit(["import", store] + source + ["--json"])
        #expect(try Processes.validateJSON(json.stdout, schema: "import.schema.json").status == 0)
        let tagged = try Processes.prefixkit(["import", store] + source + ["--tag", "best"])
        #expect(tagged.status == 2 && tagged.stderr.contains("pass --step"), "\(tagged.stderr)")
        #expect(try Processes.prefixkit(["import", store] + source + ["--step", "5"]).status == 0)
        let dry = try Processes.prefixkit(["delete", store, "run", "--all-steps", "--dry-run"])
        #expect(
            dry.status == 0 && dry.stdout.contains("would delete run@0, run@5") && dry.stdout.contains("nothing deleted"), "\(dry.stdout)")
        let dryJSON = try Processes.prefixkit(["delete", store, "run", "--all-steps", "--dry-run", "--json"])
        #expect(dryJSON.stdout.contains("\"dry_run\":true") || dryJSON.stdout.contains("\"dry_run\" : true"), "\(dryJSON.stdout)")
        #expect(try Processes.validateJSON(dryJSON.stdout, schema: "removal.schema.json").status == 0)
        #expect(try Processes.prefixkit(["list", store]).stdout.contains("run@5"))
        let deleted = try Processes.prefixkit(["delete", store, "run", "--all-steps"])
        #expect(deleted.status == 0 && deleted.stdout.contains("run has no steps left"), "\(deleted.stdout)")
        let gc = try Processes.prefixkit(["gc", store, "--dry-run"])
        #expect(gc.status == 0 && gc.stdout.contains("dry run, nothing removed"), "\(gc.stdout)")
    }

    @Test("with --json an error is one JSON object on stderr that validates, for PrefixKit's errors and for argument parsing")
    func jsonErrors() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, Self.fixture + "/adapter", "--base", Self.fixture + "/base"]).status == 0)
        for (arguments, status, code) in [
            (["inspect", store, "ghost", "--json"], Int32(2), "StorageError.notFound"),
            (["import", store, dir.path + "/none", "--json"], 3, "FormatError.io"),
            (["export", store, "adapter", "--format", "zip", "--out", dir.path + "/x", "--json"], 2, "UsageError"),
        ] {
            let run = try Processes.prefixkit(arguments)
            #expect(run.status == status, "\(arguments): \(run.status) \(run.stderr)")
            #expect(try Processes.validateJSON(run.stderr, schema: "error.schema.json").status == 0, "\(run.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(run.stderr.utf8)) as? [String: Any]
            #expect((object?["error"] as? [String: Any])?["code"] as? String == code, "\(run.stderr)")
        }
    }

    @Test("export --format hf --dtype bf16 writes a config.json that says bfloat16; without --dtype config.json is kept byte for byte")
    func configDescribesWeights() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let imported = try Processes.prefixkit(["import", store, Self.fixture + "/base", "--json"])
        let base = try #require(
            ((try JSONSerialization.jsonObject(with: Data(imported.stdout.utf8)) as? [String: Any])?["base"] as? [String: Any])?[
                "fingerprint"]
                as? String)
        let reference = "base:" + base.prefix(12)
        #expect(
            try Processes.prefixkit(["export", store, reference, "--format", "hf", "--dtype", "bf16", "--out", dir.path + "/bf"]).status
                == 0)
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path + "/bf/config.json"))) as? [String: Any])
        #expect(config["dtype"] as? String == "bfloat16" || config["torch_dtype"] as? String == "bfloat16", "\(config)")
        let weights = try SafetensorsFile(path: dir.path + "/bf/model.safetensors")
        #expect(weights.entries.allSatisfy { $0.dtype == .bf16 })
        #expect(try Processes.prefixkit(["export", store, reference, "--format", "hf", "--out", dir.path + "/same"]).status == 0)
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: dir.path + "/same/config.json"))
                == Data(contentsOf: URL(fileURLWithPath: Self.fixture + "/base/config.json")))
    }

    @Test("a missing checkpoint suggests the steps its name has, or the nearest names")
    func missingCheckpoint() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let run = Processes.repositoryRoot + "/fixtures/trainer/run1"
        #expect(try Processes.prefixkit(["import", store, run, "--base", Self.fixture + "/base"]).status == 0)
        for command in [["inspect", store], ["export", store]] {
            let tail = command[0] == "export" ? ["--format", "npz", "--out", dir.path + "/x.npz"] : []
            let steps = try Processes.prefixkit(command + ["run1@15"] + tail)
            #expect(steps.status == 2 && steps.stderr.contains("run1 has steps 2, 4, 6"), "\(command[0]): \(steps.stderr)")
            let typo = try Processes.prefixkit(command + ["rnu1"] + tail)
            #expect(typo.status == 2 && typo.stderr.contains("did you mean 'run1'?"), "\(command[0]): \(typo.stderr)")
            let unrelated = try Processes.prefixkit(command + ["zzzzzzzz"] + tail)
            #expect(unrelated.status == 2 && !unrelated.stderr.contains("did you mean"), "\(command[0]): \(unrelated.stderr)")
        }
    }

    @Test("delete says which steps of the name remain")
    func deleteSaysWhatRemains() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(
            try Processes.prefixkit([
                "import", store, Processes.repositoryRoot + "/fixtures/trainer/run1", "--base", Self.fixture + "/base",
            ]).status == 0)
        let latest = try Processes.prefixkit(["delete", store, "run1"])
        #expect(
            latest.status == 0 && latest.stdout.contains("deleted run1@6") && latest.stdout.contains("run1 keeps steps 2, 4"),
            "\(latest.stdout)\(latest.stderr)")
        #expect(try Processes.prefixkit(["delete", store, "run1@4"]).stdout.contains("run1 keeps step 2"))
        #expect(try Processes.prefixkit(["delete", store, "run1"]).stdout.contains("run1 has no steps left"))
    }

    @Test("an error that names its checkpoint does not name it again at the end")
    func checkpointNamedOnce() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let demo = try Processes.prefixkit([
            "demo", "--store", store, "--layers", "1", "--width", "8", "--heads", "2", "--checkpoints", "2",
        ])
        #expect(demo.status == 0, "\(demo.stderr)")
        let missing = try Processes.prefixkit(["export", store, "demo@7", "--format", "npz", "--out", dir.file("x.npz")])
        #expect(missing.status == 2)
        #expect(missing.stderr == "error: no checkpoint 'demo@7' in the store: demo has steps 1, 2\n", "\(missing.stderr)")
        let parent = try Processes.prefixkit(["delete", store, "demo@1"])
        #expect(parent.status == 2)
        #expect(parent.stderr == "error: demo@1 is the parent of demo@2; pass --cascade to delete them too\n", "\(parent.stderr)")
    }

    @Test("a source of no importable kind and a feature PrefixKit does not compute have their own --json codes")
    func importRefusalCodes() throws {
        let dir = TemporaryDirectory()
        func code(_ source: String, _ extra: [String] = []) throws -> (Int32, String?) {
            let run = try Processes.prefixkit(["import", dir.path + "/s", source, "--json"] + extra)
            let object = try JSONSerialization.jsonObject(with: Data(run.stderr.utf8)) as? [String: Any]
            return (run.status, (object?["error"] as? [String: Any])?["code"] as? String)
        }
        // A directory of nothing PrefixKit knows, and one file of an adapter directory.
        try FileManager.default.createDirectory(atPath: dir.path + "/empty", withIntermediateDirectories: true)
        #expect(try code(dir.path + "/empty") == (3, "FormatError.notImportable"))
        #expect(try code(Self.fixture + "/adapter/adapter_config.json") == (3, "FormatError.notImportable"))
        // A LoRA adapter: not prefix tuning.
        let lora = dir.path + "/lora"
        try FileManager.default.copyItem(atPath: Self.fixture + "/adapter", toPath: lora)
        let config = try String(contentsOfFile: lora + "/adapter_config.json", encoding: .utf8)
        try config.replacingOccurrences(of: "\"PREFIX_TUNING\"", with: "\"LORA\"").write(
            toFile: lora + "/adapter_config.json", atomically: true, encoding: .utf8)
        #expect(try code(lora, ["--base", Self.fixture + "/base"]) == (3, "FormatError.unsupportedFeature"))
    }
}
