import Foundation
import PrefixKit
import TestSupport
import Testing

/// `hf:ORG/NAME[@REVISION]` from a local Hugging Face cache (`fixtures/hfcache`, laid out by
/// hand and checked with huggingface_hub by `generate_hfcache.py`), offline, with the repository
/// and commit as provenance; and what an exported adapter names as its base.
@Suite("Hugging Face cache and base_model_name_or_path")
struct HubCacheTests {
    static let hub = Processes.repositoryRoot + "/fixtures/hfcache/hub"
    static let environment = ["HF_HUB_CACHE": hub]

    static func provenance(_ store: String, _ reference: String) throws -> [String: Any] {
        let run = try Processes.prefixkit(["inspect", store, reference, "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        let owner = (object?["checkpoint"] ?? object?["base"]) as? [String: Any]
        return try #require(owner?["provenance"] as? [String: Any], "\(run.stdout)\(run.stderr)")
    }

    @Test("a base by branch or tag and an adapter from the cache import with the repository and commit as provenance")
    func imports() throws {
        let dir = TemporaryDirectory()
        let store = dir.path + "/s"
        let base = try Processes.prefixkit(["import", store, "hf:tiny-org/gpt2-tiny@v1", "--json"], environment: Self.environment)
        #expect(base.status == 0, "\(base.stderr)")
        let fingerprint = try #require(
            ((try JSONSerialization.jsonObject(with: Data(base.stdout.utf8)) as? [String: Any])?["base"] as? [String: Any])?["fingerprint"]
                as? String)
        let baseProvenance = try Self.provenance(store, "base:" + fingerprint.prefix(12))
        #expect(
            baseProvenance["repository"] as? String == "tiny-org/gpt2-tiny"
                && baseProvenance["revision"] as? String == String(repeating: "a", count: 40))
        let adapter = try Processes.prefixkit(
            ["import", store, "hf:tiny-org/gpt2-tiny-prefix", "--name", "ad", "--base-by-shape"], environment: Self.environment)
        #expect(adapter.status == 0, "\(adapter.stderr)")
        let provenance = try Self.provenance(store, "ad")
        #expect(
            provenance["repository"] as? String == "tiny-org/gpt2-tiny-prefix"
                && provenance["revision"] as? String == String(repeating: "b", count: 40))
        // The same weights as the files they link to: verify against PEFT's outputs passes.
        let verify = try Processes.prefixkit(
            ["verify", store, "ad", "--reference", Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/expected.npz", "--no-record"])
        #expect(verify.status == 0 && verify.stdout.contains("PASS"), "\(verify.stdout)")
        // Exported, the adapter names the base's repository (it had no base of its own).
        let out = dir.path + "/peft"
        #expect(try Processes.prefixkit(["export", store, "ad", "--format", "peft", "--out", out]).status == 0)
        let config = try String(contentsOfFile: out + "/adapter_config.json", encoding: .utf8)
        #expect(config.contains("\"base_model_name_or_path\": \"tiny-org/gpt2-tiny\""), "\(config)")
    }

    @Test("--base hf:ORG/NAME imports the base from the cache")
    func baseFromCache() throws {
        let dir = TemporaryDirectory()
        let run = try Processes.prefixkit(
            ["import", dir.path + "/s", Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/adapter", "--base", "hf:tiny-org/gpt2-tiny"],
            environment: Self.environment)
        #expect(run.status == 0 && run.stdout.contains("created base"), "\(run.stdout)\(run.stderr)")
    }

    @Test("HF_HOME is used when HF_HUB_CACHE is not set")
    func hfHome() throws {
        let dir = TemporaryDirectory()
        let home = dir.path + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: home + "/hub", withDestinationPath: Self.hub)
        let run = try Processes.prefixkit(
            ["import", dir.path + "/s", "hf:tiny-org/gpt2-tiny", "--json"], environment: ["HF_HOME": home, "HF_HUB_CACHE": ""])
        #expect(run.status == 0, "\(run.stderr)")
        // The cache under HF_HOME was read: the base records that repository and the same weights
        // as the model directory the cache entry links to.
        let fingerprint = try #require(
            ((try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])?["base"] as? [String: Any])?["fingerprint"]
                as? String)
        #expect(try Self.provenance(dir.path + "/s", "base:" + fingerprint.prefix(12))["repository"] as? String == "tiny-org/gpt2-tiny")
        let direct = try Processes.prefixkit(["import", dir.path + "/s", Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/base"])
        #expect(direct.status == 0 && direct.stdout.contains("already stored"), "\(direct.stdout)\(direct.stderr)")
    }

    @Test("a repository not in the cache, a missing revision and a malformed id are refused, each saying what is missing")
    func refused() throws {
        let dir = TemporaryDirectory()
        for (source, expected) in [
            ("hf:tiny-org/nothere", "is not in the local Hugging Face cache"),
            ("hf:tiny-org/gpt2-tiny@v9", "no revision 'v9' of tiny-org/gpt2-tiny (refs: main, v1)"),
            ("hf:../etc", "is not a Hub repository id"),
            ("hf:tiny-org/gpt2-tiny@../../x", "is not a revision"),
        ] {
            let run = try Processes.prefixkit(["import", dir.path + "/s", source], environment: Self.environment)
            #expect(run.status == 3 && run.stderr.contains(expected), "\(source): \(run.status) \(run.stderr)")
        }
    }

    @Test("an exported adapter keeps the base_model_name_or_path it was imported with; without one it names the base's absolute path")
    func baseModelName() throws {
        let dir = TemporaryDirectory()
        let adapter = dir.path + "/adapter"
        try FileManager.default.copyItem(atPath: Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/adapter", toPath: adapter)
        let configPath = adapter + "/adapter_config.json"
        let text = try String(contentsOfFile: configPath, encoding: .utf8)
        try text.replacingOccurrences(of: "\"base_model_name_or_path\": null", with: "\"base_model_name_or_path\": \"org/original\"")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/base", toPath: dir.path + "/base")
        let store = dir.path + "/s"
        // The base given by a relative path.
        let imported = try Processes.run(
            Processes.productsDirectory.appendingPathComponent("prefixkit").path,
            ["import", "s", "adapter", "--base", "base", "--name", "named"], currentDirectory: dir.path)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(
            try Processes.prefixkit([
                "import", store, Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/adapter", "--name", "plain", "--base-by-shape",
            ])
            .status == 0)
        for (name, expected) in [("named", "org/original"), ("plain", URL(fileURLWithPath: dir.path + "/base").standardizedFileURL.path)] {
            let out = dir.path + "/\(name)-peft"
            #expect(try Processes.prefixkit(["export", store, name, "--format", "peft", "--out", out]).status == 0)
            let config = try String(contentsOfFile: out + "/adapter_config.json", encoding: .utf8)
            #expect(config.contains("\"base_model_name_or_path\": \"\(expected)\""), "\(name): \(config)")
        }
    }
}
