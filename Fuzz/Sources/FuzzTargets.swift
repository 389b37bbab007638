import Foundation
import PrefixCore
import PrefixFormats
import PrefixStoreRules

/// One parser of untrusted input, fed arbitrary bytes: it must return or throw, never trap,
/// hang or allocate without bound.
enum FuzzTarget: String, CaseIterable {
    case safetensors, npy, npz, exchange, hfconfig, peftconfig, pickle, torch, manifest, catalogrow

    /// A scratch directory for the parsers that read files (one per process).
    static let scratch: String = {
        let path = FileManager.default.temporaryDirectory.path + "/prefixkit-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }()

    func run(_ bytes: UnsafeRawBufferPointer) {
        switch self {
        case .safetensors:
            // The header parse, then every tensor's bytes read back from an in-memory copy.
            guard let parsed = try? SafetensorsFile.parse(bytes) else { return }
            var touched = 0
            for entry in parsed.entries where entry.range.upperBound + parsed.dataStart <= bytes.count {
                touched &+= Int(bytes[parsed.dataStart + entry.range.lowerBound..<parsed.dataStart + entry.range.upperBound].reduce(0, &+))
            }
            _ = touched
        case .npy:
            if let value = try? NPY.decode(bytes), let tensor = value.tensor { _ = tensor.doubles().count }
        case .npz:
            let path = write(bytes, name: "input.npz")
            _ = try? NPZ.read(path: path)
        case .exchange:
            let path = write(bytes, name: "input.npz")
            if let exchange = try? ActivationExchange.read(path: path) { _ = exchange.entries().count }
        case .hfconfig:
            _ = try? HFConfig.parse(Data(bytes))
        case .pickle:
            _ = try? RestrictedUnpickler.load(Array(bytes), name: "input")
        case .torch:
            // The archive, the pickle and every tensor's bytes.
            let path = write(bytes, name: "input.pt")
            if let checkpoint = try? TorchCheckpoint(path: path) {
                for entry in checkpoint.entries { _ = (try? checkpoint.tensor(entry))?.byteCount }
            }
        case .manifest:
            // A save manifest as `recover` reads it from a store someone else wrote.
            if let parsed = try? StoreManifest.parse(Array(bytes)) { _ = parsed.rows.count }
        case .catalogrow:
            // One catalog row (a JSON object) checked against every table's rules, as `check`
            // and `recover` check rows of a store someone else wrote.
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return }
            var row: [String: StoreValue] = [:]
            for (column, value) in object { if let value = StoreValue(json: value) { row[column] = value } }
            for table in StoreRules.manifestTables + ["sqlite_master"] { _ = try? StoreRules.row(row, table: table) }
        case .peftconfig:
            let directory = Self.scratch + "/adapter"
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            _ = write(bytes, name: "adapter/adapter_config.json")
            _ = try? PEFTAdapter(path: directory)
        }
    }

    private func write(_ bytes: UnsafeRawBufferPointer, name: String) -> String {
        let path = Self.scratch + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    /// The target named by `PREFIXKIT_FUZZ_TARGET`.
    static var selected: FuzzTarget {
        let name = ProcessInfo.processInfo.environment["PREFIXKIT_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            FileHandle.standardError.write(
                Data("set PREFIXKIT_FUZZ_TARGET to one of: \(allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
            exit(2)
        }
        return target
    }
}

#if FUZZING
    /// libFuzzer's entry point for one input.
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        FuzzTarget.selected.run(UnsafeRawBufferPointer(start: data, count: size))
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
        _ = FuzzTarget.selected
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
            let target = FuzzTarget.selected
            var count = 0
            for path in CommandLine.arguments.dropFirst() {
                let files =
                    (try? FileManager.default.contentsOfDirectory(atPath: path)).map { $0.sorted().map { path + "/" + $0 } } ?? [path]
                for file in files {
                    guard let data = FileManager.default.contents(atPath: file) else { continue }
                    data.withUnsafeBytes { target.run($0) }
                    count += 1
                }
            }
            print("\(target.rawValue): replayed \(count) input(s), none crashed")
        }
    }
#endif
