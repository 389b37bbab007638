public import Foundation

/// The result of running a child process.
public struct ProcessResult: Sendable {
    /// The exit status.
    public var status: Int32
    /// What it printed on standard output.
    public var stdout: String
    /// What it printed on standard error.
    public var stderr: String
    /// Whether the process was killed by a signal (and which).
    public var signal: Int32?
}

/// Runs external programs for end-to-end and interop tests.
public enum Processes {
    /// The directory holding the built products (`prefixkit`, the test bundle).
    public static var productsDirectory: URL {
        // The test runner is `.build/<triple>/debug/PrefixKitPackageTests.xctest` on Linux.
        let bundle = Bundle.main.bundleURL
        for candidate in [bundle, bundle.deletingLastPathComponent()]
        where FileManager.default.fileExists(atPath: candidate.appendingPathComponent("prefixkit").path) {
            return candidate
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    /// The built `prefixkit` executable.
    public static var prefixkit: String { productsDirectory.appendingPathComponent("prefixkit").path }

    /// The Python interpreter of the project's virtual environment.
    public static var python: String {
        if let configured = ProcessInfo.processInfo.environment["PREFIXKIT_PYTHON"] { return configured }
        return repositoryRoot + "/.venv/bin/python"
    }

    /// The repository root (the directory holding Package.swift).
    public static var repositoryRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }

    /// Runs `executable` with `arguments` and extra environment, waiting for it to end.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        input: String? = nil, currentDirectory: String? = nil
    ) throws -> ProcessResult {
        let process = makeProcess(executable, arguments, environment)
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        if let input {
            let pipe = Pipe()
            process.standardInput = pipe
            pipe.fileHandleForWriting.write(Data(input.utf8))
            try pipe.fileHandleForWriting.close()
        }
        try process.run()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        let signaled = process.terminationReason == .uncaughtSignal
        return ProcessResult(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), signal: signaled ? process.terminationStatus : nil)
    }

    private static func makeProcess(_ executable: String, _ arguments: [String], _ environment: [String: String]) -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        return process
    }

    /// Runs the built `prefixkit` with `arguments`.
    public static func prefixkit(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try run(prefixkit, arguments, environment: environment)
    }

    /// Runs a Python script (given as text) in the project's virtual environment.
    public static func python(_ script: String, _ arguments: [String] = []) throws -> ProcessResult {
        try run(python, ["-c", script] + arguments)
    }
}

extension Processes {
    /// Starts `executable` without waiting for it; the caller terminates or waits.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String], input: String?,
        background: Bool
    ) throws -> Process {
        let process = makeProcess(executable, arguments, environment)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

extension Processes {
    /// Starts a process holding `lockFile` exclusively (flock) for `seconds`, and returns once the
    /// lock is verifiably held.
    public static func holdLock(_ lockFile: String, seconds: Double) throws -> Process {
        let holder = try run(
            "/usr/bin/flock", ["--exclusive", lockFile, "sleep", "\(seconds)"], environment: [:], input: nil, background: true)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            // flock --nonblock fails (exit 1) once the holder has the lock.
            if try run("/usr/bin/flock", ["--nonblock", lockFile, "true"]).status != 0 { return holder }
            Thread.sleep(forTimeInterval: 0.02)
        }
        holder.terminate()
        throw FixtureError(description: "the lock holder did not take \(lockFile) within 10 s")
    }
}

extension Processes {
    /// Validates `json` against `schemas/<schema>` with Python's jsonschema (an independent
    /// validator); the result's status is 0 when it validates, and stderr says why not.
    public static func validateJSON(_ json: String, schema: String) throws -> ProcessResult {
        try run(
            python,
            [
                "-c",
                """
                import json, sys, jsonschema
                jsonschema.Draft202012Validator(json.load(open(sys.argv[1]))).validate(json.loads(sys.stdin.read()))
                """, repositoryRoot + "/schemas/" + schema,
            ], input: json)
    }
}
