import Foundation
import PrefixKit
import TestSupport
import Testing

/// An adapter is bound to the base it names, by its weights' fingerprint or its repository, and
/// by shape alone only when the user says so; "the same weights" only after comparing them.
@Suite("Binding an adapter to its base")
struct BaseBindingTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    /// A copy of the fixture's adapter whose `base_model_name_or_path` is `base`.
    static func adapter(naming base: String?, in dir: TemporaryDirectory, as name: String) throws -> String {
        let path = dir.path + "/" + name
        try FileManager.default.copyItem(atPath: fixture + "/adapter", toPath: path)
        let data = try #require(FileManager.default.contents(atPath: path + "/adapter_config.json"))
        var config = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        config["base_model_name_or_path"] = base ?? NSNull()
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(
            to: URL(fileURLWithPath: path + "/adapter_config.json"))
        return path
    }

    /// A model directory with the fixture base's shapes and other weights (every tensor + 1).
    static func lookalike(_ dir: TemporaryDirectory) throws -> String {
        let path = dir.path + "/lookalike"
        try FileManager.default.copyItem(atPath: fixture + "/base", toPath: path)
        let run = try Processes.python(
            """
            import sys
            from safetensors.numpy import load_file, save_file
            tensors = {k: v + 1 for k, v in load_file(sys.argv[1]).items()}
            save_file(tensors, sys.argv[1], metadata={"format": "pt"})
            """, [path + "/model.safetensors"])
        try #require(run.status == 0, "\(run.stderr)")
        return path
    }

    static func binding(_ store: String, _ reference: String) throws -> (binding: String?, base: String?) {
        let run = try Processes.prefixkit(["inspect", store, reference, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let checkpoint = object?["checkpoint"] as? [String: Any]
        let provenance = checkpoint?["provenance"] as? [String: Any]
        return (provenance?["base_binding"] as? String, checkpoint?["base_fingerprint"] as? String)
    }

    @Test("an adapter naming a local base directory binds to those weights, not to a stored base of the same shapes")
    func namedDirectory() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let other = try Processes.prefixkit(["import", store, try Self.lookalike(dir), "--json"])
        try #require(other.status == 0, "\(other.stderr)")
        let adapter = try Self.adapter(naming: Self.fixture + "/base", in: dir, as: "adapter")
        let run = try Processes.prefixkit(["import", store, adapter, "--name", "run"])
        #expect(run.status == 0 && run.stdout.contains("created base"), "\(run.stdout)\(run.stderr)")
        #expect(!run.stdout.contains("the same weights"), "\(run.stdout)")
        let real = try Processes.prefixkit(["import", dir.path + "/plain", Self.fixture + "/base", "--json"])
        let fingerprint = try #require(
            ((try JSONSerialization.jsonObject(with: Data(real.stdout.utf8)) as? [String: Any])?["base"] as? [String: Any])?["fingerprint"]
                as? String)
        let bound = try Self.binding(store, "run")
        #expect(bound.binding == "fingerprint" && bound.base == fingerprint, "\(bound)")
        // Again, now that those weights are stored: compared, and said to be the same.
        let again = try Processes.prefixkit(["import", store, adapter, "--name", "again"])
        #expect(again.stdout.contains("the same weights (fingerprint compared)"), "\(again.stdout)\(again.stderr)")
        let verify = try Processes.prefixkit(["verify", store, "run", "--no-record"])
        #expect(verify.stdout.contains("base: bound by fingerprint"), "\(verify.stdout)")
    }

    @Test("an adapter that names no base, or a base found nowhere, is refused (exit 2) unless --base-by-shape says to bind by shape")
    func shapeOnlyWhenAsked() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        #expect(try Processes.prefixkit(["import", store, try Self.lookalike(dir)]).status == 0)
        for (name, base) in [("unnamed", nil), ("elsewhere", "/nonexistent/llama-base"), ("hub", "some-org/not-cached")] {
            let adapter = try Self.adapter(naming: base, in: dir, as: name)
            let refused = try Processes.prefixkit(
                ["import", store, adapter, "--name", name], environment: ["HF_HUB_CACHE": dir.path + "/empty"])
            #expect(
                refused.status == 2 && refused.stderr.contains("pass --base DIR|base:FP or --base-by-shape"), "\(name): \(refused.stderr)")
            let bound = try Processes.prefixkit(
                ["import", store, adapter, "--name", name, "--base-by-shape"], environment: ["HF_HUB_CACHE": dir.path + "/empty"])
            #expect(bound.status == 0 && bound.stdout.contains("its weights were not compared"), "\(name): \(bound.stdout)\(bound.stderr)")
            #expect(!bound.stdout.contains("the same weights"))
            #expect(try Self.binding(store, name).binding == "shape")
        }
        let verify = try Processes.prefixkit(["verify", store, "unnamed", "--no-record"])
        #expect(verify.stdout.contains("base: bound by shape alone"), "\(verify.stdout)")
        let explicit = try Processes.prefixkit([
            "import", store, try Self.adapter(naming: nil, in: dir, as: "x"), "--name", "x", "--base",
            "base:" + (try Store.open(at: store).bases()[0].fingerprint),
        ])
        #expect(explicit.status == 0 && explicit.stdout.contains("as --base names it"), "\(explicit.stdout)\(explicit.stderr)")
        #expect(try Self.binding(store, "x").binding == "explicit")
    }

    @Test("an adapter naming a Hub repository binds to the cached snapshot by fingerprint, or to a stored base from that repository")
    func hubRepository() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let cache = ["HF_HUB_CACHE": HubCacheTests.hub]
        #expect(try Processes.prefixkit(["import", store, "hf:tiny-org/gpt2-tiny"], environment: cache).status == 0)
        let adapter = try Self.adapter(naming: "tiny-org/gpt2-tiny", in: dir, as: "adapter")
        let cached = try Processes.prefixkit(["import", store, adapter, "--name", "cached"], environment: cache)
        #expect(cached.status == 0 && cached.stdout.contains("the same weights (fingerprint compared)"), "\(cached.stdout)\(cached.stderr)")
        #expect(try Self.binding(store, "cached").binding == "fingerprint")
        // Without the cache, the stored base that came from that repository.
        let stored = try Processes.prefixkit(
            ["import", store, adapter, "--name", "stored"], environment: ["HF_HUB_CACHE": dir.path + "/empty"])
        #expect(
            stored.status == 0 && stored.stdout.contains("the repository the adapter names (weights not compared)"),
            "\(stored.stdout)\(stored.stderr)")
        #expect(try Self.binding(store, "stored").binding == "provenance")
    }
}
