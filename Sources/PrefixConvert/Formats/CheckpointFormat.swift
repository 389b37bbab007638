import Foundation
public import PrefixCore
public import PrefixFormats
public import PrefixStore

/// One kind of source `prefixkit import` reads: how it is recognised, how it is imported, whether
/// it converts to other prefix files without a base, and the parsers of untrusted bytes it runs
/// (for the fuzzer). Adding a format is one file conforming to this protocol and one line in
/// ``CheckpointFormats/all``.
public protocol CheckpointFormat: Sendable {
    /// The format's name, what a source of it is in words, whether it is a directory or a file,
    /// and what importing it gives.
    var listing: FormatListing { get }
    /// Whether `path` (a directory or a regular file, as ``isDirectory`` says) holds this format,
    /// judged from its content without reading it whole.
    func detect(_ path: String) -> Bool
    /// Imports the source into `store`.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` for an unreadable or inconsistent source,
    ///   ``PrefixStore/StorageError`` for store failures and usage mistakes.
    func importSource(_ source: ImportSource, into store: Store, progress: ProgressHandler?) throws -> ImportReport
    /// Reads the prefix with no base and no store (store-less conversion and `inspect FILE`), or
    /// `nil` when the format needs its base model to be read.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` for an unreadable source.
    func standalone(_ path: String) throws -> StandalonePrefix?
    /// The parsers of untrusted bytes the format runs, as fuzz targets.
    var fuzzEntries: [FuzzEntry] { get }
}

extension CheckpointFormat {
    /// The format's name (`peft`, `prefix-file`, ...).
    public var name: String { listing.name }
    /// What a source of this format is, in words (an import report's `detected`).
    public var description: String { listing.description }
    /// Whether a source of this format is a directory (else a regular file).
    public var isDirectory: Bool { listing.kind == .directory }
    /// Whether importing it stores a base model (whose `--name` is an alias), not a checkpoint.
    public var holdsBase: Bool { listing.holdsBase }
    /// Whether ``standalone(_:)`` reads the format without its base.
    public var readsStandalone: Bool { listing.readsStandalone }
    /// Needs its base.
    public func standalone(_ path: String) throws -> StandalonePrefix? { nil }
    /// No parser of its own.
    public var fuzzEntries: [FuzzEntry] { [] }
}

/// What the registry knows of an import format.
public struct FormatListing: Sendable {
    /// A source's kind on disk.
    public enum Kind: Sendable { case directory, file }

    /// The format's name (`peft`, `prefix-file`, ...).
    public var name: String
    /// What a source of this format is, in words.
    public var description: String
    /// A directory or a regular file.
    public var kind: Kind
    /// Whether importing it stores a base model, not a checkpoint.
    public var holdsBase: Bool
    /// Whether it reads without its base (store-less conversion, `inspect FILE`).
    public var readsStandalone: Bool

    /// A listing; by default a format of checkpoints that needs its base.
    public init(_ name: String, _ description: String, _ kind: Kind, holdsBase: Bool = false, readsStandalone: Bool = false) {
        self.name = name
        self.description = description
        self.kind = kind
        self.holdsBase = holdsBase
        self.readsStandalone = readsStandalone
    }
}

/// A source being imported: where it is, and the import's options.
public struct ImportSource: Sendable {
    /// The source's path (a Hub cache snapshot resolved).
    public var path: String
    /// The Hub cache's repository folder, whose blobs a snapshot's links may point into.
    public var linkRoot: String?
    /// The import's options.
    public var options: ImportOptions
}

/// A prefix read from a file with no base, with what writing it back needs.
public struct StandalonePrefix: Sendable {
    /// The prefix.
    public var content: CheckpointContent
    /// Whether it is an encoder-decoder's (written with sectioned names).
    public var encoderDecoder: Bool
    /// The base fingerprint the file records, if any.
    public var baseFingerprint: String?
    /// `adapter_config.json`, from the adapter or the file's metadata.
    public var peftConfig: String?
}

/// The registry of import formats.
public enum CheckpointFormats {
    /// Every format, in detection order (the first that recognises a source reads it).
    public static let all: [any CheckpointFormat] = [
        AdapterHubFormat(),
        PEFTAdapterFormat(),
        HFModelFormat(),
        TrainerRunFormat(),
        PrefixFileFormat(),
        NPYFlatPrefixFormat(),
        TorchCheckpointFormat(),
    ]

    /// Every format's fuzz targets.
    public static var fuzzEntries: [FuzzEntry] { all.flatMap(\.fuzzEntries) }

    /// The format of what `path` holds.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` `.io` for a missing path, `.notImportable`
    ///   saying what was found and what is expected.
    public static func detect(_ path: String) throws(FormatError) -> any CheckpointFormat {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FormatError(.io, "no such file or directory", path: path)
        }
        if isDirectory.boolValue {
            if let format = all.first(where: { $0.isDirectory && $0.detect(path) }) { return format }
            let found = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted().prefix(8).joined(separator: ", ")
            throw FormatError(
                .notImportable,
                "a directory holding [\(found)]: expected an HF model directory (config.json + model.safetensors or shards) or a PEFT adapter (adapter_config.json + adapter_model.safetensors)",
                path: path)
        }
        try InputFile.requireRegular(path, what: "the source")
        let files = all.filter { !$0.isDirectory }
        // A file of an HF model or adapter directory, given instead of the directory (a prefix
        // file's extension aside: `--layout flat-kv` reads one such file on purpose).
        if !PrefixFileFormat().detect(path) { try refuseDirectoryFile(path) }
        if let format = files.first(where: { $0.detect(path) }) { return format }
        throw FormatError(
            .notImportable,
            "a file PrefixKit cannot import: expected an HF model directory, a PEFT adapter directory, prefix tensors in .npz / .safetensors, or a PyTorch checkpoint (.bin / .pt) of a prefix",
            path: path)
    }

    /// Refuses a file of an HF model or adapter directory given instead of the directory.
    ///
    /// - Throws: ``PrefixFormats/FormatError`` `.notImportable` saying to pass the directory.
    static func refuseDirectoryFile(_ path: String) throws(FormatError) {
        let parent = Paths.parent(path).isEmpty ? "." : Paths.parent(path)
        let name = (path as NSString).lastPathComponent
        let modelFiles = [
            "model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json", "config.json",
        ]
        let adapterFiles = ["adapter_model.safetensors", "adapter_model.bin", "adapter_config.json", "pytorch_adapter.bin"]
        let isShard = name.hasPrefix("model-") || name.hasPrefix("pytorch_model-")
        let inModel = (modelFiles.contains(name) || isShard) && HFModelDirectory.detect(parent)
        let inAdapter = adapterFiles.contains(name) && (PEFTAdapter.detect(parent) || AdapterHubPrefix.detect(parent))
        guard inModel || inAdapter else { return }
        throw FormatError(
            .notImportable,
            "\(name) is one file of \(inAdapter ? "an adapter directory" : "an HF model directory"): pass the directory itself (prefixkit import STORE \(parent))",
            path: path)
    }
}
