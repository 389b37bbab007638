import Foundation
import PrefixCore
public import PrefixStoreRules

/// One problem ``Store/check(_:digests:record:isolation:progress:structureChecked:)`` found.
public struct CheckFinding: Sendable, Codable, Hashable {
    /// `error` (the store is damaged) or `warning` (leftovers that `gc` removes).
    public var severity: String
    /// Which check found it: `catalog`, `blob`, `structure`, `digest`, `manifest` or `orphan`.
    public var check: String
    /// What kind of problem it is, stable for scripts: a hostile or malformed value, a path
    /// outside the store, corruption, a missing blob ... (``StoreFindingCode``).
    public var code: StoreFindingCode
    /// What was found.
    public var message: String
    /// The file concerned.
    public var path: String?
    /// The checkpoints or bases that own the tensor concerned.
    public var owners: [String]?
    /// The tensor concerned.
    public var tensor: String?
}

/// The result of ``Store/check(_:digests:record:isolation:progress:structureChecked:)``.
public struct CheckReport: Sendable, Codable, Hashable {
    /// The store directory.
    public var store: String
    /// When the check ran (ISO 8601, UTC).
    public var checkedAt: String
    /// Catalog rows checked: bases.
    public var bases: Int
    /// Checkpoints.
    public var checkpoints: Int
    /// Blob files.
    public var blobs: Int
    /// Tensor rows.
    public var tensors: Int
    /// Tensors whose digest was recomputed.
    public var tensorsHashed: Int
    /// The bytes hashed.
    public var bytesHashed: Int64
    /// Everything found, errors first.
    public var findings: [CheckFinding]
    /// Whether the result was recorded in the catalog.
    public var recorded: Bool
    /// The blobs a scoped check covered (paths relative to the store); nil for the whole store.
    public var blobPaths: [String]?

    /// `true` when no finding is an error (warnings do not fail a check).
    public var passed: Bool
}

/// Who uses a tensor: a checkpoint (`NAME@STEP`) or a base (`base:FP12`), in which role, under
/// which name.
typealias TensorOwner = (owner: String, role: String, name: String)

/// The findings of a check as it goes.
struct CheckFindings {
    private(set) var all: [CheckFinding] = []

    var count: Int { all.count }

    mutating func error(
        _ check: String, _ code: StoreFindingCode, _ message: String, path: String? = nil, owners: [String]? = nil, tensor: String? = nil
    ) {
        all.append(CheckFinding(severity: "error", check: check, code: code, message: message, path: path, owners: owners, tensor: tensor))
    }

    mutating func warning(_ check: String, _ code: StoreFindingCode, _ message: String, path: String? = nil, tensor: String? = nil) {
        all.append(CheckFinding(severity: "warning", check: check, code: code, message: message, path: path, tensor: tensor))
    }

    /// Drops the findings made since there were `count`.
    mutating func removeSince(_ count: Int) { all.removeSubrange(count...) }

    /// Adds another list's findings after these.
    mutating func append(_ other: CheckFindings) { all += other.all }
}

/// Each blob's digest results, written by the workers hashing blobs side by side.
final class DigestResults: @unchecked Sendable {
    // Safety: every access goes through `lock`.
    private var items: [(findings: CheckFindings, hashed: Int, bytes: Int64)?]
    private var next = 0
    private var bytesDone: Int64 = 0
    private let lock = NSLock()

    init(count: Int) { items = Array(repeating: nil, count: count) }

    /// The next blob to hash, if any is left.
    func take() -> Int? {
        lock.withLock {
            guard next < items.count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    /// Records blob `index`'s result, then tells `progress` the blob bytes hashed so far (under
    /// the lock, so the calls come one at a time and in increasing order).
    func set(_ index: Int, _ value: (findings: CheckFindings, hashed: Int, bytes: Int64), progress: (Int64) -> Void, bytes: Int64) {
        lock.withLock {
            items[index] = value
            bytesDone += bytes
            progress(bytesDone)
        }
    }

    /// Every blob's result, in order.
    var results: [(findings: CheckFindings, hashed: Int, bytes: Int64)] { lock.withLock { items.compactMap { $0 } } }
}
