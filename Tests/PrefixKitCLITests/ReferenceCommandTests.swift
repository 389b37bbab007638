import Foundation
import TestSupport
import Testing

/// `prefixkit reference`: finding the Python, refusing clearly when it lacks the tools, and (where
/// torch, transformers and PEFT are installed: `PREFIXKIT_REFERENCE_PYTHON`) writing the same
/// reference as the committed fixture, which verify then passes.
@Suite("prefixkit reference")
struct ReferenceCommandTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"
    /// The repository's Python package, for interpreters that do not have the wheel installed.
    static let packagePath = ["PYTHONPATH": Processes.repositoryRoot + "/python"]

    @Test("a Python without torch, transformers and peft: exit 3, naming them and the extra to install")
    func missingTools() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("ref.npz")
        let result = try Processes.prefixkit(
            ["reference", "\(Self.fixture)/base", "\(Self.fixture)/adapter", "--out", out, "--python", Processes.python],
            environment: Self.packagePath)
        #expect(result.status == 3)
        #expect(result.stderr.contains("lacks torch, transformers, peft"), "\(result.stderr)")
        #expect(result.stderr.contains("pip install 'prefixkit[reference]'"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test("a Python that cannot import the prefixkit package: exit 3, saying where to install it")
    func missingPackage() throws {
        let dir = TemporaryDirectory()
        let out = dir.file("ref.npz")
        let result = try Processes.prefixkit(
            ["reference", "\(Self.fixture)/base", "\(Self.fixture)/adapter", "--out", out, "--python", Processes.python],
            environment: ["PYTHONPATH": ""])
        #expect(result.status == 3)
        #expect(result.stderr.contains("cannot import the prefixkit package"), "\(result.stderr)")
    }

    @Test("--python naming nothing executable is a usage error")
    func noSuchPython() throws {
        let result = try Processes.prefixkit([
            "reference", "\(Self.fixture)/base", "\(Self.fixture)/adapter", "--out", "/tmp/unused.npz", "--python", "/nonexistent/python3",
        ])
        #expect(result.status == 2)
        #expect(result.stderr.contains("--python /nonexistent/python3: no such executable"), "\(result.stderr)")
    }

    @Test("a base or adapter that is not a directory: exit 3 before any Python runs")
    func notADirectory() throws {
        let result = try Processes.prefixkit(["reference", "\(Self.fixture)/base", "\(Self.fixture)/missing", "--out", "/tmp/unused.npz"])
        #expect(result.status == 3)
        #expect(result.stderr.contains("ADAPTER \(Self.fixture)/missing is not a directory"), "\(result.stderr)")
    }

    @Test("--ids and --text together are a usage error")
    func idsAndText() throws {
        let result = try Processes.prefixkit([
            "reference", "\(Self.fixture)/base", "\(Self.fixture)/adapter", "--out", "/tmp/unused.npz", "--ids", "a.npy", "--text", "hi",
        ])
        #expect(result.status == 2)
        #expect(result.stderr.contains("give --ids or --text, not both"))
    }

    @Test("without --python, the python3 beside the binary runs (the venv the wheel went into)")
    func pythonBesideBinary() throws {
        // A venv-like bin/: a hard link of the built binary (so /proc/self/exe is here) and python3.
        let bin = Processes.productsDirectory.deletingLastPathComponent().appendingPathComponent("reference-bin-\(getpid())").path
        try? FileManager.default.removeItem(atPath: bin)
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: bin) }
        try FileManager.default.linkItem(atPath: Processes.prefixkit, toPath: bin + "/prefixkit")
        try FileManager.default.createSymbolicLink(atPath: bin + "/python3", withDestinationPath: Processes.python)
        let result = try Processes.run(
            bin + "/prefixkit", ["reference", "\(Self.fixture)/base", "\(Self.fixture)/adapter", "--out", "/tmp/unused.npz"],
            environment: Self.packagePath.merging(["PATH": "/nonexistent"]) { $1 })
        #expect(result.status == 3)
        #expect(result.stderr.contains("and \(bin)/python3 lacks"), "\(result.stderr)")
    }

    /// The interpreter with torch, transformers 5.24 and PEFT 0.21.2 (the fixture's tools), if set.
    static let toolPython = ProcessInfo.processInfo.environment["PREFIXKIT_REFERENCE_PYTHON"]

    @Test(
        "with transformers + PEFT: the fixture's reference again, and verify passes on it",
        .enabled(if: toolPython != nil, "set PREFIXKIT_REFERENCE_PYTHON to a Python with torch, transformers 5.24, peft 0.21.2"))
    func writesTheFixtureReference() throws {
        let dir = TemporaryDirectory()
        let directory = dir.path
        let out = directory + "/ref.npz"
        let made = try Processes.prefixkit(
            [
                "reference", "\(Self.fixture)/base", "\(Self.fixture)/adapter", "--out", out, "--ids", "\(Self.fixture)/reference.npz",
                "--python", Self.toolPython ?? "",
            ], environment: Self.packagePath)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("wrote \(out): 2 x"), "\(made.stdout)")
        // Every array the fixture holds, bit for bit (the same tools on the same inputs).
        let compare = try Processes.python(
            """
            import json, sys, numpy as np
            a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
            keys = [k for k in b.files if k != "meta"]
            assert sorted(keys) == sorted(k for k in a.files if k != "meta"), (sorted(a.files), sorted(b.files))
            bad = [k for k in keys if a[k].shape != b[k].shape or not np.array_equal(a[k], b[k])]
            meta = json.loads(str(a["meta"]))
            print(len(keys), bad, meta["input"])
            """, [out, "\(Self.fixture)/reference.npz"])
        #expect(compare.status == 0, "\(compare.stderr)")
        #expect(compare.stdout.hasSuffix("[] --ids reference.npz\n"), "\(compare.stdout)")

        let store = directory + "/store"
        #expect(try Processes.prefixkit(["import", store, "\(Self.fixture)/base"]).status == 0)
        let imported = try Processes.prefixkit(["import", store, "\(Self.fixture)/adapter", "--name", "run", "--base-by-shape"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let verified = try Processes.prefixkit(["verify", store, "run", "--reference", out, "--require-reference", "--round-trip", "none"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("PASS"))
    }

    @Test(
        "with transformers + PEFT and no --ids: the default batch, left padding included, passes verify",
        .enabled(if: toolPython != nil, "set PREFIXKIT_REFERENCE_PYTHON to a Python with torch, transformers and peft"))
    func defaultInputs() throws {
        let dir = TemporaryDirectory()
        let directory = dir.path
        let out = directory + "/ref.npz"
        let made = try Processes.prefixkit(
            ["reference", "\(Self.fixture)/base", "\(Self.fixture)/adapter", "--out", out, "--python", Self.toolPython ?? ""],
            environment: Self.packagePath)
        #expect(made.status == 0, "\(made.stderr)")
        #expect(made.stdout.contains("2 x 12 tokens"), "\(made.stdout)")
        let store = directory + "/store"
        #expect(try Processes.prefixkit(["import", store, "\(Self.fixture)/base"]).status == 0)
        #expect(try Processes.prefixkit(["import", store, "\(Self.fixture)/adapter", "--name", "run", "--base-by-shape"]).status == 0)
        let verified = try Processes.prefixkit(["verify", store, "run", "--reference", out, "--require-reference", "--round-trip", "none"])
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
    }
}
