import Foundation

/// A model or adapter in the local Hugging Face cache, named `hf:ORG/NAME[@REVISION]`, resolved
/// offline as `huggingface_hub` lays the cache out: `<cache>/models--ORG--NAME/refs/<REVISION>`
/// holds a commit, `snapshots/<commit>/` the files (links into the repository's `blobs/`). The
/// cache is `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
public struct HubCacheReference: Sendable, Equatable {
    /// `ORG/NAME` (or `NAME`).
    public var repository: String
    /// A branch, tag or commit; `main` when not given.
    public var revision: String

    /// What a reference resolved to.
    public struct Snapshot: Sendable, Equatable {
        /// The snapshot directory.
        public var path: String
        /// The commit it is.
        public var commit: String
        /// The repository's cache folder: the snapshot's links may point anywhere inside it.
        public var repositoryFolder: String
    }

    /// Parses `hf:ORG/NAME[@REVISION]`; nil for anything that does not start with `hf:`.
    ///
    /// - Throws: ``FormatError`` `.unsafeName` for a repository or revision with characters the
    ///   Hub does not allow, or `..`.
    public static func parse(_ text: String) throws(FormatError) -> HubCacheReference? {
        guard text.hasPrefix("hf:") else { return nil }
        let rest = text.dropFirst(3)
        let (name, revision) =
            rest.firstIndex(of: "@").map { (String(rest[..<$0]), String(rest[rest.index(after: $0)...])) } ?? (String(rest), "main")
        let allowed = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || "-_.".contains(c)) }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count),
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 96 && $0.allSatisfy(allowed) && $0 != ".." && $0 != "." })
        else {
            throw FormatError(.unsafeName, "'\(name.prefix(200))' is not a Hub repository id (ORG/NAME)", member: text)
        }
        guard !revision.isEmpty, revision.count <= 255, !revision.contains(".."), !revision.hasPrefix("/"),
            revision.allSatisfy({ allowed($0) || $0 == "/" })
        else {
            throw FormatError(.unsafeName, "'\(revision.prefix(200))' is not a revision (a branch, tag or commit)", member: text)
        }
        return HubCacheReference(repository: name, revision: revision)
    }

    /// The cache directory for `environment`.
    public static func cacheDirectory(_ environment: [String: String]? = nil) -> String {
        let environment = environment ?? ProcessInfo.processInfo.environment
        if let hub = environment["HF_HUB_CACHE"], !hub.isEmpty { return hub }
        if let home = environment["HF_HOME"], !home.isEmpty { return home + "/hub" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/huggingface/hub"
    }

    /// The snapshot this names in the cache of `environment`, offline.
    ///
    /// - Throws: ``FormatError`` `.io` naming what is missing (the repository, the ref, the
    ///   snapshot), `.unsafePath` for a ref that is not a commit.
    public func resolve(environment: [String: String]? = nil) throws(FormatError) -> Snapshot {
        let cache = Self.cacheDirectory(environment)
        let folder = cache + "/models--" + repository.replacingOccurrences(of: "/", with: "--")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(
                .io,
                "\(repository) is not in the local Hugging Face cache (\(cache)); download it first (huggingface-cli download \(repository))",
                path: folder)
        }
        let isCommit = revision.count == 40 && revision.allSatisfy(\.isHexDigit)
        var commit = revision
        if !isCommit {
            let ref = folder + "/refs/" + revision
            guard let text = try? InputFile.read(ref, limit: 256, what: "the ref") else {
                let refs = (try? FileManager.default.contentsOfDirectory(atPath: folder + "/refs"))?.sorted() ?? []
                throw FormatError(
                    .io,
                    "the cache holds no revision '\(revision)' of \(repository) (refs: \(refs.isEmpty ? "none" : refs.joined(separator: ", ")))",
                    path: ref)
            }
            commit = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else {
                throw FormatError(.unsafePath, "refs/\(revision) does not hold a commit hash", path: ref)
            }
        }
        let snapshot = folder + "/snapshots/" + commit
        guard FileManager.default.fileExists(atPath: snapshot, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw FormatError(.io, "the cache has no snapshot of \(repository) at \(commit)", path: snapshot)
        }
        return Snapshot(path: snapshot, commit: commit, repositoryFolder: folder)
    }
}
