import Foundation
import PrefixKit

/// The wheel users install, beside what it is compared with in the same run: its size and the
/// binary's against PyPI's 100 MB default limit, `pip install` of the wheel into a fresh venv
/// against installing its dependencies (numpy, h5py) alone, and `--version` and `verify` of the
/// gpt2-tiny PEFT fixture run from the wheel against the source build's release binary (the
/// same code: the ratio shows what the wheel's launcher and vendored libraries cost).
struct WheelBenchmark {
    var options: BenchOptions

    func run() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        guard let wheel = options.wheel ?? Self.newestWheel(in: root + "/dist") else {
            print("wheel benchmark: skipped (no dist/*.whl: run ./scripts/wheel, or pass --wheel PATH)")
            return
        }
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            print("wheel benchmark: skipped (no /usr/bin/python3 to make venvs with)")
            return
        }
        let source = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("prefixkit").path
        let work = try options.freshWork()
        defer { Leftovers.discard(work) }

        let wheelBytes = try Self.size(wheel)
        let binaryBytes = try Self.binarySize(in: wheel, python: python)
        print("wheel benchmark: \((wheel as NSString).lastPathComponent); \(options.rounds) rounds, medians")
        print(
            "  size: wheel \(Format.megabytes(wheelBytes)) (\(String(format: "%.0f%%", Double(wheelBytes) / 1e6))"
                + " of PyPI's 100 MB default limit), binary \(Format.megabytes(binaryBytes)) uncompressed")

        // Installs: the wheel (with its dependencies) against its dependencies alone, each into a
        // fresh venv, from pip's cache and the local wheel folder as users' machines would.
        var wheelInstall: [Double] = [], dependencies: [Double] = []
        for round in 0..<options.rounds {
            let a = "\(work)/wheel-\(round)", b = "\(work)/deps-\(round)"
            wheelInstall.append(
                try Measure.seconds {
                    try PeftBenchmark.run(python, ["-m", "venv", a])
                    try PeftBenchmark.run(a + "/bin/pip", ["install", "--quiet", "--disable-pip-version-check", wheel])
                })
            dependencies.append(
                try Measure.seconds {
                    try PeftBenchmark.run(python, ["-m", "venv", b])
                    try PeftBenchmark.run(b + "/bin/pip", ["install", "--quiet", "--disable-pip-version-check", "numpy", "h5py"])
                })
        }
        let (w, d) = (Measure.median(wheelInstall), Measure.median(dependencies))
        print(
            "  install into a fresh venv: the wheel \(String(format: "%.2f s", w)), numpy + h5py alone \(String(format: "%.2f s", d))"
                + " (\(Measure.ratio(w / d)))")

        // Runs: the wheel's prefixkit (its launcher execs the vendored binary) against the source build.
        let installed = "\(work)/wheel-0/bin/prefixkit"
        let fixture = root + "/fixtures/peft/gpt2-tiny"
        let store = work + "/store"
        try PeftBenchmark.run(installed, ["import", store, fixture + "/base"])
        try PeftBenchmark.run(installed, ["import", store, fixture + "/adapter", "--name", "run", "--base", fixture + "/base"])
        let verify = ["verify", store, "run", "--reference", fixture + "/reference.npz", "--require-reference", "--no-record"]
        for (label, arguments) in [("--version", ["--version"]), ("verify (gpt2-tiny, PEFT reference)", verify)] {
            var fromWheel: [Double] = [], fromSource: [Double] = []
            for _ in 0..<max(options.rounds, 5) {
                fromWheel.append(try Measure.seconds { try PeftBenchmark.run(installed, arguments) })
                fromSource.append(try Measure.seconds { try PeftBenchmark.run(source, arguments) })
            }
            let (a, b) = (Measure.median(fromWheel), Measure.median(fromSource))
            print(
                "  \(label): from the wheel \(Measure.ms(a)), from the source build \(Measure.ms(b)) (\(Measure.ratio(a / b)))")
        }
    }

    /// The most recently built wheel in `directory`.
    static func newestWheel(in directory: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasSuffix(".whl") } ?? []
        return names.map { directory + "/" + $0 }.max { a, b in
            let date = { (path: String) in
                (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? .distantPast
            }
            return date(a) < date(b)
        }
    }

    static func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    /// The uncompressed size of the `prefixkit` binary the wheel carries (from its zip directory).
    static func binarySize(in wheel: String, python: String) throws -> Int {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            "-c",
            "import sys, zipfile; print(max(i.file_size for i in zipfile.ZipFile(sys.argv[1]).infolist() if i.filename.endswith('/prefixkit')))",
            wheel,
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard let size = Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BenchError("cannot read the binary's size in \(wheel)")
        }
        return size
    }
}
