import ArgumentParser
import Foundation
import PrefixKit

/// `prefixkit reference`: writes an independent reference (the exchange format) for an HF model
/// and a PEFT prefix-tuning adapter by running transformers + PEFT themselves, in Python.
///
/// PrefixKit does not compute this file: `python -m prefixkit.reference` does, with the Python
/// the wheel was installed into (the `python3` beside this binary) unless `--python` names
/// another. That Python needs the `prefixkit` package and torch, transformers and PEFT
/// (`pip install 'prefixkit[reference]'`); when it lacks them the command says so and what to
/// install, before anything runs.
struct Reference: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an independent reference (.npz) for verify, computed by transformers + PEFT.",
        discussion: """
            Runs `python -m prefixkit.reference` with the Python beside this binary (the venv the wheel was \
            installed into; else python3 on PATH) unless --python names another. It needs torch, transformers \
            and peft there: pip install 'prefixkit[reference]'. Without --ids or --text the input is a fixed \
            batch of two rows of 12 token ids (seed 0, the second row left-padded by 4). Then: \
            prefixkit verify STORE CHECKPOINT --reference FILE --require-reference.
            """)

    @Argument(help: "The HF model directory the adapter was trained on.")
    var base: String

    @Argument(help: "The PEFT prefix-tuning adapter directory.")
    var adapter: String

    @Option(name: .long, help: "The reference file to write (.npz, the activation exchange format).")
    var out: String

    @Option(name: .long, help: "Token ids: .npy [N] or [B, N], or an exchange .npz with input_ids (+ attention_mask).")
    var ids: String?

    @Option(name: .long, help: "A text to tokenize with the base's tokenizer (repeat for a batch).")
    var text: [String] = []

    @Option(name: .long, help: "The precision the model runs in: f64 (default) or f32.")
    var dtype: String = "f64"

    @Option(name: .long, help: "The Python to run (default: the python3 beside prefixkit, else python3 on PATH).")
    var python: String?

    func validate() throws {
        guard ids == nil || text.isEmpty else { throw ValidationError("give --ids or --text, not both") }
        guard dtype == "f64" || dtype == "f32" else { throw ValidationError("--dtype must be f64 or f32, not \(dtype)") }
        guard !out.isEmpty else { throw ValidationError("--out is empty: name the .npz to write") }
    }

    func run() throws {
        for (label, path) in [("BASE", base), ("ADAPTER", adapter)] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ReferenceToolError("\(label) \(path) is not a directory")
            }
        }
        if let ids, !FileManager.default.isReadableFile(atPath: ids) {
            throw ReferenceToolError("--ids \(ids) cannot be read")
        }
        let interpreter = try ReferencePython.locate(named: python)
        try ReferencePython.checkReady(interpreter)
        var arguments = ["-m", "prefixkit.reference", "--base", base, "--adapter", adapter, "--out", out, "--dtype", dtype]
        if let ids { arguments += ["--ids", ids] }
        for item in text { arguments += ["--text", item] }
        let status = try ReferencePython.run(interpreter, arguments)
        switch status {
        case 0: return
        case 2: throw CommandFailure(status: .usage)
        default: throw CommandFailure(status: .input)
        }
    }
}

/// A reference that cannot be made: no such Python, a Python without the tools, an input that
/// is not there. Exit 3, except a `--python` that does not exist (a usage error).
struct ReferenceToolError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Finding, checking and running the Python that computes the reference.
enum ReferencePython {
    /// What to install, said in every message about a missing tool.
    static let installHint = "pip install 'prefixkit[reference]'"

    /// The interpreter: `--python` as given (a path, or a name looked up on PATH), else the
    /// `python3`/`python` of the environment this binary was installed into (its own directory,
    /// or the `bin/` of the venv whose site-packages hold it), else `python3` on PATH.
    static func locate(named requested: String?) throws -> String {
        if let requested {
            guard let found = executable(requested) else {
                throw UsageError("--python \(requested): no such executable")
            }
            return found
        }
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directories = [(binary as NSString).deletingLastPathComponent]
        // From the wheel, the binary lives in PREFIX/lib/pythonX.Y/site-packages/prefixkit.scripts/
        // (auditwheel's layout; PREFIX/bin/prefixkit is a launcher that execs it): PREFIX/bin.
        if (directories[0] as NSString).lastPathComponent == "prefixkit.scripts" {
            let prefix = URL(fileURLWithPath: directories[0]).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().deletingLastPathComponent()
            directories.append(prefix.appendingPathComponent("bin").path)
        }
        for directory in directories {
            for name in ["python3", "python"] {
                let candidate = (directory as NSString).appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
        }
        guard let found = executable("python3") else {
            throw ReferenceToolError(
                "no python3 beside \(binary) nor on PATH: install PrefixKit into a venv (\(installHint)) or name one with --python")
        }
        return found
    }

    /// Fails, saying what to install, unless `interpreter` can import `prefixkit.reference` and
    /// torch, transformers and peft (looked up, not imported: fast, and nothing runs yet).
    static func checkReady(_ interpreter: String) throws {
        let probe = """
            import importlib.util, sys
            if importlib.util.find_spec("prefixkit") is None: sys.exit(4)
            missing = [n for n in ("torch", "transformers", "peft") if importlib.util.find_spec(n) is None]
            print(", ".join(missing)); sys.exit(5 if missing else 0)
            """
        let (status, output) = try capture(interpreter, ["-c", probe])
        switch status {
        case 0: return
        case 4:
            throw ReferenceToolError(
                "\(interpreter) cannot import the prefixkit package: \(installHint) into that Python, or name one that has it with --python"
            )
        case 5:
            throw ReferenceToolError(
                "the reference runs transformers + PEFT, and \(interpreter) lacks \(output.trimmingCharacters(in: .whitespacesAndNewlines)): \(installHint)"
            )
        default:
            throw ReferenceToolError("\(interpreter) did not run (exit \(status)): name a working Python with --python")
        }
    }

    /// Runs `interpreter` with `arguments`, its output and errors going straight to ours.
    static func run(_ interpreter: String, _ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
    }

    private static func capture(_ interpreter: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ReferenceToolError("\(interpreter) cannot be run: \(error.localizedDescription)")
        }
        // A short answer (the names of three packages at most): bounded read.
        let data = pipe.fileHandleForReading.readData(ofLength: 4096)
        process.waitUntilExit()
        return (process.terminationReason == .exit ? process.terminationStatus : -1, String(decoding: data, as: UTF8.self))
    }

    /// `name` itself when it contains a slash and is executable, else the first match on PATH.
    private static func executable(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
