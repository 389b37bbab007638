import Foundation
import TestSupport
import Testing

/// A store written by prefixkit 0.1.0 (`fixtures/stores/release-0.1.0`, typed model columns,
/// catalog migrations v1 to v4) opens with this version: its catalog is migrated, its bases keep
/// their fingerprints byte for byte, and check, verify and the old `base:FP` references work.
@Suite("Stores written by earlier releases")
struct OldStoreTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/stores/release-0.1.0"
    static let fingerprints = [
        "gpt2": "e1ba1e5362e4aab5f57a17115261826e7fe9c8d95fbc6f79813247f3da323a63",
        "llama": "00dfa8e8708b0351bc4c36d47c1ccd9871690f63d959c84a18b92fe81dcbcb1b",
    ]

    /// A copy of the fixture store (opening migrates it; the committed one stays as it is).
    static func copy(_ dir: TemporaryDirectory) throws -> String {
        let store = dir.path + "/old"
        try FileManager.default.copyItem(atPath: fixture, toPath: store)
        return store
    }

    @Test("check passes and every base keeps its fingerprint after the catalog is migrated")
    func checkAndFingerprints() throws {
        let dir = TemporaryDirectory()
        let store = try Self.copy(dir)
        let check = try Processes.prefixkit(["check", store, "--json"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let listed = try Processes.prefixkit(["list", store, "--json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        for (alias, fingerprint) in Self.fingerprints {
            #expect(listed.stdout.contains(fingerprint), "\(alias) lost its fingerprint: \(listed.stdout)")
            // The old full reference, and an 8-character prefix of it, still resolve.
            for reference in ["base:" + fingerprint, "base:" + fingerprint.prefix(8)] {
                let inspect = try Processes.prefixkit(["inspect", store, String(reference), "--json"])
                #expect(inspect.status == 0 && inspect.stdout.contains(fingerprint), "\(reference): \(inspect.stderr)")
            }
        }
        let migrated = try Processes.run(
            "/usr/bin/sqlite3", [store + "/catalog.sqlite", "SELECT identifier FROM grdb_migrations ORDER BY rowid"], environment: [:])
        #expect(migrated.stdout.contains("v5-model-family-config"), "\(migrated.stdout)")
    }

    @Test(
        "verify against the committed PEFT references passes, and the re-exported base is the original one",
        arguments: [
            ("gpt2-peft", "gpt2-tiny"), ("llama-peft", "llama-gqa-tiny"),
        ])
    func verifyWithReference(checkpoint: String, fixture: String) throws {
        let dir = TemporaryDirectory()
        let store = try Self.copy(dir)
        let peft = Processes.repositoryRoot + "/fixtures/peft/" + fixture
        let verify = try Processes.prefixkit(["verify", store, checkpoint, "--reference", peft + "/reference.npz", "--require-reference"])
        #expect(verify.status == 0 && verify.stdout.contains("PASS"), "\(verify.stdout)\(verify.stderr)")
        // Importing the same HF directory into the migrated store finds the stored base.
        let again = try Processes.prefixkit(["import", store, peft + "/base"])
        #expect(again.status == 0 && again.stdout.contains("already stored"), "\(again.stdout)\(again.stderr)")
    }

    @Test("the hidden-form checkpoint of the old store still runs")
    func hiddenCheckpointRuns() throws {
        let dir = TemporaryDirectory()
        let store = try Self.copy(dir)
        let verify = try Processes.prefixkit(["verify", store, "gpt2-hidden"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let out = dir.path + "/f.npz"
        let expected = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny/exported_expected.npz"
        let forward = try Processes.prefixkit([
            "forward", store, "gpt2-hidden", "--input", expected, "--out", out, "--dtype", "f64", "--logits",
        ])
        #expect(forward.status == 0, "\(forward.stderr)")
        // What PEFT computed with this prefix (converted to an adapter, in f32 keys and values):
        // the old store's checkpoint still gives it, real rows, to the f32 rounding of the keys.
        let compare = try Processes.python(
            """
            import sys, numpy as np
            a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
            m = b["attention_mask"].astype(bool)
            print(max(np.abs(a[k] - b[k])[m].max() / np.abs(b[k][m]).max() for k in ("final", "logits")))
            """, [out, expected])
        let error = try #require(Double(compare.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(compare.stderr)")
        #expect(error < 1e-7, "relative error \(error)")
    }

    @Test("recover replays the old manifests, whose model rows have the typed columns of 0.1.0")
    func recoverFromOldManifests() throws {
        let dir = TemporaryDirectory()
        let store = try Self.copy(dir)
        #expect(try Processes.prefixkit(["check", store]).status == 0)
        // The catalog loses the LLaMA base, its checkpoint and its model row.
        let lose = try Processes.run(
            "/usr/bin/sqlite3",
            [
                store + "/catalog.sqlite",
                "PRAGMA foreign_keys=ON; DELETE FROM base WHERE alias = 'llama'; DELETE FROM model WHERE family = 'llama';",
            ], environment: [:])
        #expect(lose.status == 0, "\(lose.stderr)")
        let recover = try Processes.prefixkit(["recover", store])
        #expect(recover.status == 0 && recover.stdout.contains("llama-peft@0"), "\(recover.stdout)\(recover.stderr)")
        let listed = try Processes.prefixkit(["list", store, "--json"])
        #expect(listed.stdout.contains(Self.fingerprints["llama"] ?? "?"), "\(listed.stdout)")
        #expect(try Processes.prefixkit(["check", store]).status == 0)
        let reference = Processes.repositoryRoot + "/fixtures/peft/llama-gqa-tiny/reference.npz"
        let verify = try Processes.prefixkit(["verify", store, "llama-peft", "--reference", reference, "--require-reference"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}
