import Foundation
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixStoreRules

/// Every parser of untrusted input the fuzzer drives: each import format's (its registry's fuzz
/// entries) and the parsers of what verify and a store someone else wrote feed PrefixKit.
enum FuzzTargets {
    static let all: [FuzzEntry] =
        CheckpointFormats.fuzzEntries + [
            FuzzEntry("exchange") { bytes, scratch in
                if let exchange = try? ActivationExchange.read(path: FuzzEntry.file(bytes, scratch, "input.npz")) {
                    _ = exchange.entries().count
                }
            },
            // A save manifest as `recover` reads it from a store someone else wrote.
            FuzzEntry("manifest") { bytes, _ in _ = try StoreManifest.parse(Array(bytes)).rows.count },
            // One catalog row (a JSON object) checked against every table's rules, as `check` and
            // `recover` check rows of a store someone else wrote.
            FuzzEntry("catalogrow") { bytes, _ in
                guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return }
                var row: [String: StoreValue] = [:]
                for (column, value) in object { if let value = StoreValue(json: value) { row[column] = value } }
                for table in StoreRules.manifestTables + ["sqlite_master"] { _ = try? StoreRules.row(row, table: table) }
            },
        ]

    /// A scratch directory for the parsers that read files (one per process).
    static let scratch: String = {
        let path = FileManager.default.temporaryDirectory.path + "/prefixkit-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    /// The target named by `PREFIXKIT_FUZZ_TARGET`.
    static var selected: FuzzEntry {
        let name = ProcessInfo.processInfo.environment["PREFIXKIT_FUZZ_TARGET"] ?? ""
        guard let target = all.first(where: { $0.name == name }) else {
            FileHandle.standardError.write(
                Data("set PREFIXKIT_FUZZ_TARGET to one of: \(all.map(\.name).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return target
    }
}

#if FUZZING
    /// libFuzzer's entry point for one input.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        try? FuzzTargets.selected.run(UnsafeRawBufferPointer(start: data, count: size), FuzzTargets.scratch)
        return 0
    }

    /// libFuzzer's driver (in the fuzzer runtime that `-sanitize=fuzzer` links).
    @_silgen_name("LLVMFuzzerRunDriver")
    func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    /// The executable's entry point under libFuzzer (`scripts/fuzz`): SwiftPM names an executable's
    /// main `<target>_main`, so this hands control to libFuzzer's driver itself.
    @_cdecl("PrefixFuzz_main")
    func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
        _ = FuzzTargets.selected
        var count = argc
        var arguments = argv
        return runFuzzerDriver(&count, &arguments) { data, size in fuzzOneInput(data, size) }
    }
#else
    /// Without libFuzzer: replays files (a corpus, or crashes found earlier) through a target, so
    /// the committed corpus runs as a regression check in every build.
    @main
    enum Replay {
        static func main() {
            let target = FuzzTargets.selected
            var count = 0
            for path in CommandLine.arguments.dropFirst() {
                let files =
                    (try? FileManager.default.contentsOfDirectory(atPath: path)).map { $0.sorted().map { path + "/" + $0 } } ?? [path]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    data.withUnsafeBytes { try? target.run($0, FuzzTargets.scratch) }
                    count += 1
                }
            }
            print("\(target.name): replayed \(count) input(s), none crashed")
        }
    }
#endif
