import Foundation
import PrefixCore
import PrefixFormats
import PrefixStore

/// Which stored or named base a checkpoint is imported onto, and how it was bound.
extension Importer {
    /// The base of a PEFT adapter: `--base` when given (bound explicitly); else what the adapter
    /// says about its base (`base_model_name_or_path`): a local model directory or an entry of the
    /// local Hugging Face cache is read and fingerprinted (stored already when the weights are the
    /// same), and a stored base whose provenance names that Hub repository matches; else, only
    /// with `--base-by-shape`, the one stored base whose shapes fit. Records the binding in `options`.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.invalidArgument` (exit 2) when nothing the adapter
    ///   says matches and `--base-by-shape` is not given, `.ambiguous` for several repository matches.
    static func adapterBase(
        _ store: Store, _ adapter: PEFTAdapter.Config, options: inout ImportOptions, fits: (ModelConfig) -> Bool
    ) throws -> Target {
        if options.base != nil {
            options.binding = options.binding ?? .explicit
            return try resolveBase(store, options.base, fits: fits)
        }
        let named = adapter.baseModelNameOrPath.flatMap { $0.isEmpty ? nil : $0 }
        if let named {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: named, isDirectory: &isDirectory), isDirectory.boolValue,
                HFModelDirectory.detect(named)
            {
                let directory = try HFModelDirectory(path: Store.normalizePath(named))
                options.binding = .fingerprint
                return Target(base: nil, config: directory.config, pending: directory)
            }
            if !named.hasPrefix("/"), !named.hasPrefix("."), let reference = try? HubCacheReference.parse("hf:" + named),
                let snapshot = try? reference.resolve()
            {
                let directory = try HFModelDirectory(path: snapshot.path, linkRoot: snapshot.repositoryFolder)
                options.binding = .fingerprint
                return Target(base: nil, config: directory.config, pending: directory, hub: (reference.repository, snapshot.commit))
            }
            let matches = try store.bases().filter { $0.provenance.repository == named && fits($0.config) }
            if matches.count > 1 {
                throw StorageError(
                    .ambiguous,
                    "several stored bases came from \(Names.printable(named)): \(matches.map(\.shortReference).joined(separator: ", ")); pass --base base:FP"
                )
            }
            if let only = matches.first {
                options.binding = .provenance
                return Target(base: only, config: only.config, pending: nil)
            }
        }
        guard options.baseByShape else {
            let said =
                named.map {
                    "the adapter's base '\(Names.printable($0))' is neither a model directory here, nor in the local Hugging Face cache, nor the repository a stored base came from"
                }
                ?? "the adapter does not name its base (base_model_name_or_path is empty)"
            throw StorageError(
                .invalidArgument,
                "\(said), and a stored base whose shapes fit may hold other weights: pass --base DIR|base:FP or --base-by-shape")
        }
        options.binding = .shape
        return try resolveBase(store, nil, fits: fits)
    }

    /// The base named by `reference` (an HF directory or a stored base), or the one stored base
    /// that `fits`.
    static func resolveBase(_ store: Store, _ reference: String?, fits: (ModelConfig) -> Bool) throws -> Target {
        if let reference, let hub = try HubCacheReference.parse(reference) {
            let snapshot = try hub.resolve()
            let directory = try HFModelDirectory(path: snapshot.path, linkRoot: snapshot.repositoryFolder)
            return Target(base: nil, config: directory.config, pending: directory, hub: (hub.repository, snapshot.commit))
        }
        if let reference {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: reference, isDirectory: &isDirectory), isDirectory.boolValue {
                if FileManager.default.fileExists(atPath: reference + "/catalog.sqlite") {
                    throw StorageError(
                        .invalidArgument,
                        "--base '\(Names.printable(reference))' is a PrefixKit store, not an HF model directory: name a base stored here as base:FP or its alias, or write one out with `prefixkit export \(Names.printable(reference)) base:FP --format hf --out DIR` and pass DIR",
                        path: reference)
                }
                let directory = try HFModelDirectory(path: Store.normalizePath(reference))
                // Saved (or found already stored, by fingerprint) only once the prefix is known to fit.
                return Target(base: nil, config: directory.config, pending: directory)
            }
            var found: BaseInfo?
            do { found = try store.base(reference) } catch {
                guard error.code == .notFound, !reference.hasPrefix("base:") else { throw error }
            }
            guard let base = found else {
                // Neither a directory nor a stored base: most likely a mistyped path.
                let known = try store.bases().map { $0.alias ?? $0.shortReference }
                throw StorageError(
                    .notFound,
                    "--base '\(Names.printable(reference))': no such directory, and no stored base is called that (--base takes an HF model directory, hf:ORG/NAME, base:FP or an alias\(known.isEmpty ? "; the store holds no base" : "; stored: " + known.joined(separator: ", ")))"
                )
            }
            return Target(base: base, config: base.config, pending: nil)
        }
        let candidates = try store.bases().filter { fits($0.config) }
        guard candidates.count == 1, let only = candidates.first else {
            let all = try store.bases()
            if candidates.isEmpty {
                throw StorageError(
                    .notFound,
                    all.isEmpty
                        ? "the store holds no base: pass --base DIR (an HF model directory)"
                        : "no stored base fits this prefix (stored: \(all.map { "\($0.shortReference) \($0.config.family.rawValue) L=\($0.config.numLayers)" }.joined(separator: ", "))); pass --base"
                )
            }
            throw StorageError(
                .ambiguous, "several stored bases fit: \(candidates.map(\.shortReference).joined(separator: ", ")); pass --base base:FP")
        }
        return Target(base: only, config: only.config, pending: nil)
    }
}
