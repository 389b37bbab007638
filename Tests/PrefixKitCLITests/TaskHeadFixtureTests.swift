import Foundation
import PrefixKit
import TestSupport
import Testing

/// Task heads (`fixtures/heads/<name>`: a tiny task model saved by transformers 4.57.1, a PEFT
/// SEQ_CLS or TOKEN_CLS adapter with its head under `modules_to_save`, and the float64 outputs
/// with right- and left-padded rows) through the command line, and every way a head is refused.
@Suite("Task heads against transformers + PEFT")
struct TaskHeadFixtureTests {
    static let root = Processes.repositoryRoot + "/fixtures/heads"

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
            FileManager.default.fileExists(atPath: "\(root)/\($0)/reference.npz")
        }.sorted()
    }

    static func store(_ name: String, _ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, "\(root)/\(name)/adapter", "--base", "\(root)/\(name)/base"])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        return store
    }

    @Test("the head fixtures are all there: SEQ_CLS and TOKEN_CLS on BERT, RoBERTa, ELECTRA")
    func present() {
        #expect(
            Set(["bert-seq-cls", "bert-token-cls", "roberta-seq-cls", "roberta-token-cls", "electra-seq-cls"]).isSubset(of: Self.names))
    }

    @Test(
        "an adapter with its head imports with its task, and verify PASSes on the head's logits and round-trips the head", arguments: names)
    func verifyHead(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let inspect = try Processes.prefixkit(["inspect", store, "adapter"])
        #expect(inspect.stdout.contains("task         \(name.contains("seq") ? "SEQ_CLS" : "TOKEN_CLS")"), "\(inspect.stdout)")
        let verify = try Processes.prefixkit([
            "verify", store, "adapter", "--reference", "\(Self.root)/\(name)/reference.npz", "--require-reference", "--json", "--no-record",
        ])
        #expect(verify.status == 0, "\(name): \(verify.stdout)\(verify.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any])
        let checks = try #require((report["checkpoints"] as? [[String: Any]])?.first?["checks"] as? [[String: Any]])
        let logits = try #require(checks.first { $0["check"] as? String == "logits" }, "\(checks)")
        #expect(logits["status"] as? String == "pass" && (logits["relative_error"] as? Double ?? 1) <= 1e-12, "\(logits)")
        let trips = checks.filter { $0["check"] as? String == "round-trip" && ($0["message"] as? String)?.contains("head") == true }
        #expect(trips.count == 3 && trips.allSatisfy { $0["status"] as? String == "pass" }, "\(trips)")
    }

    @Test("forward --logits gives the head's output: [B, labels] per sequence, [B, N, labels] per token", arguments: names)
    func forwardLogits(name: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(name, dir)
        let reference = "\(Self.root)/\(name)/reference.npz"
        let out = dir.path + "/o.npz"
        let run = try Processes.prefixkit(["forward", store, "adapter", "--input", reference, "--dtype", "f64", "--logits", "--out", out])
        #expect(run.status == 0, "\(name): \(run.stderr)")
        let ours = try #require(try ActivationExchange.read(path: out).logits)
        let theirs = try #require(try ActivationExchange.read(path: reference).logits)
        #expect(ours.shape == theirs.shape && ours.shape.rank == (name.contains("seq") ? 2 : 3), "\(ours.shape) \(theirs.shape)")
    }

    @Test("export --format peft writes the head under base_model.* and the adapter's task_type")
    func exportHead() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store("roberta-seq-cls", dir)
        let out = dir.path + "/peft"
        let export = try Processes.prefixkit(["export", store, "adapter", "--format", "peft", "--out", out])
        #expect(export.status == 0, "\(export.stderr)")
        let check = try Processes.python(
            """
            import json, sys
            from safetensors.numpy import load_file
            a, b = load_file(sys.argv[1] + "/adapter_model.safetensors"), load_file(sys.argv[2] + "/adapter_model.safetensors")
            assert sorted(a) == sorted(b), (sorted(a), sorted(b))
            assert all((a[k] == b[k]).all() and a[k].dtype == b[k].dtype for k in a)
            config = json.load(open(sys.argv[1] + "/adapter_config.json"))
            assert config["task_type"] == "SEQ_CLS" and config["modules_to_save"], config
            print("same")
            """, [out, "\(Self.root)/roberta-seq-cls/adapter"])
        #expect(check.status == 0 && check.stdout.contains("same"), "\(check.stdout)\(check.stderr)")
    }

    @Test("the head is deduplicated like every tensor: the same adapter imported again writes nothing")
    func headDeduplicated() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store("roberta-seq-cls", dir)
        let again = try Processes.prefixkit([
            "import", store, "\(Self.root)/roberta-seq-cls/adapter", "--name", "again", "--json", "--base-by-shape",
        ])
        #expect(again.status == 0, "\(again.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        #expect(report["bytes_written"] as? Int == 0, "\(report)")
        let inspect = try Processes.prefixkit(["inspect", store, "again"])
        #expect(inspect.stdout.contains("task         SEQ_CLS"), "\(inspect.stdout)")
    }

    @Test("an encoder adapter without a head exports as FEATURE_EXTRACTION, as PEFT saved it")
    func featureExtractionExport() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let root = Processes.repositoryRoot + "/fixtures/families/bert"
        #expect(try Processes.prefixkit(["import", store, root + "/adapter", "--base", root + "/base"]).status == 0)
        #expect(try Processes.prefixkit(["export", store, "adapter", "--format", "peft", "--out", dir.path + "/peft"]).status == 0)
        let config = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.path + "/peft/adapter_config.json")))
                as? [String: Any])
        #expect(config["task_type"] as? String == "FEATURE_EXTRACTION", "\(config)")
    }

    /// A copy of a head fixture's adapter whose safetensors Python rewrites with `edit` (a
    /// statement over the dict `t` of tensors and `config`).
    static func editedAdapter(_ name: String, _ dir: TemporaryDirectory, _ edit: String) throws -> String {
        let adapter = dir.path + "/edited"
        let write = try Processes.python(
            """
            import json, os, shutil, sys, numpy as np
            from safetensors.numpy import load_file, save_file
            shutil.copytree(sys.argv[1], sys.argv[2])
            t = load_file(sys.argv[2] + "/adapter_model.safetensors")
            config = json.load(open(sys.argv[2] + "/adapter_config.json"))
            \(edit)
            save_file(t, sys.argv[2] + "/adapter_model.safetensors", metadata={"format": "pt"})
            json.dump(config, open(sys.argv[2] + "/adapter_config.json", "w"))
            """, ["\(root)/\(name)/adapter", adapter])
        #expect(write.status == 0, "\(write.stderr)")
        return adapter
    }

    @Test(
        "a head that does not fit is refused with its own message, and nothing is written",
        arguments: [
            (
                "bert-seq-cls", #"t["base_model.classifier.dense.weight"] = np.zeros((16, 16), np.float32)"#,
                "has no tensor 'classifier.dense.weight'"
            ),
            (
                "bert-seq-cls", #"t["base_model.classifier.weight"] = np.zeros((3, 8), np.float32)"#,
                "head tensor 'classifier.weight' is f32 [3, 8]"
            ),
            ("bert-seq-cls", #"del t["base_model.classifier.bias"]"#, "lacks 'classifier.bias'"),
            ("roberta-seq-cls", #"del t["base_model.classifier.out_proj.weight"]"#, "lacks 'classifier.out_proj.weight'"),
            (
                "bert-seq-cls", #"t["classifier.weight"] = t.pop("base_model.classifier.weight")"#,
                "neither prompt_embeddings nor a saved module"
            ),
            (
                "bert-seq-cls", #"t["base_model.classifier.weight"] = t["base_model.classifier.weight"].astype(np.int32)"#,
                "is i32, not a float type"
            ),
            (
                "bert-seq-cls", #"config["task_type"] = "QUESTION_ANS""#,
                "a task head needs a task with one (SEQ_CLS, TOKEN_CLS), found QUESTION_ANS"
            ),
            ("bert-token-cls", #"config["task_type"] = "SEQ_CLS""#, "reads the pooler"),
        ])
    func refusedHeads(name: String, edit: String, message: String) throws {
        let dir = TemporaryDirectory()
        let adapter = try Self.editedAdapter(name, dir, edit)
        let store = dir.path + "/s"
        let run = try Processes.prefixkit(["import", store, adapter, "--base", "\(Self.root)/\(name)/base"])
        #expect(run.status != 0 && run.stderr.contains(message), "\(run.status) \(run.stdout)\(run.stderr)")
        let list = try Processes.prefixkit(["list", store])
        #expect(!list.stdout.contains("edited@"), "\(list.stdout)")
    }

    @Test("a prefix file with task_head.* tensors but no task_type is refused")
    func prefixFileHeadNeedsTask() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store("bert-seq-cls", dir)
        let out = dir.path + "/p.safetensors"
        #expect(try Processes.prefixkit(["export", store, "adapter", "--format", "safetensors", "--out", out]).status == 0)
        let strip = try Processes.python(
            """
            import sys
            from safetensors import safe_open
            from safetensors.numpy import save_file
            with safe_open(sys.argv[1], "np") as f:
                meta = {k: v for k, v in f.metadata().items() if k != "task_type"}
                save_file({k: f.get_tensor(k) for k in f.keys()}, sys.argv[1], metadata=meta)
            """, [out])
        #expect(strip.status == 0, "\(strip.stderr)")
        let run = try Processes.prefixkit(["import", store, out, "--name", "again"])
        #expect(run.status == 3 && run.stderr.contains("task_head.* tensors but no task_type"), "\(run.status) \(run.stderr)")
    }

    @Test("a task head on a family without one is refused by name")
    func familyWithoutHeads() throws {
        let dir = TemporaryDirectory()
        let adapter = dir.path + "/gpt2-seq"
        let write = try Processes.python(
            """
            import json, os, shutil, sys, numpy as np
            from safetensors.numpy import load_file, save_file
            shutil.copytree(sys.argv[1], sys.argv[2])
            t = load_file(sys.argv[2] + "/adapter_model.safetensors")
            t["base_model.score.weight"] = np.zeros((3, 16), np.float32)
            save_file(t, sys.argv[2] + "/adapter_model.safetensors", metadata={"format": "pt"})
            config = json.load(open(sys.argv[2] + "/adapter_config.json"))
            config["task_type"] = "SEQ_CLS"
            json.dump(config, open(sys.argv[2] + "/adapter_config.json", "w"))
            """, [Processes.repositoryRoot + "/fixtures/families/gpt2-flags/adapter", adapter])
        #expect(write.status == 0, "\(write.stderr)")
        let run = try Processes.prefixkit([
            "import", dir.path + "/s", adapter, "--base", Processes.repositoryRoot + "/fixtures/families/gpt2-flags/base",
        ])
        #expect(run.status != 0 && run.stderr.contains("SEQ_CLS task heads are not implemented for gpt2"), "\(run.stderr)")
    }
}
