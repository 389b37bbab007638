import Foundation
import PrefixCore

/// The digests of stored tensors, checked on a thread of their own while the caller computes
/// with the same bytes: a cold forward then costs about the larger of hashing and computing,
/// not their sum. Nothing computed from the tensors may be trusted, written or reported until
/// ``confirm()`` returns.
///
/// The tensors are hashed in the order their blobs hold them (the order a save wrote them, which
/// is the order the engine reads them), so the hashing thread also brings their pages in ahead
/// of the computation.
public final class BackgroundDigests: @unchecked Sendable {
    // Safety: `failure`, `done` and `cancelled` are guarded by `condition`.
    private let condition = NSCondition()
    private var failure: StorageError?
    private var done = false
    private var cancelled = false

    init(store: Store, entries: [TensorEntry], owner: String) {
        let ordered = entries.sorted { ($0.blobPath, $0.fileOffset ?? 0) < ($1.blobPath, $1.fileOffset ?? 0) }
        Thread.detachNewThread { [self] in
            var failure: StorageError?
            for entry in ordered {
                if condition.withLock({ cancelled }) { break }
                do throws(StorageError) { _ = try store.load(entry, verify: true, owner: owner, populate: false) } catch {
                    failure = error
                    break
                }
            }
            condition.withLock {
                (self.failure, self.done) = (failure, true)
                condition.broadcast()
            }
        }
    }

    /// Waits until every digest is checked.
    ///
    /// - Throws: ``StorageError`` `.digestMismatch` (or the read failure) of the first tensor
    ///   that failed, in the order they were hashed.
    public func confirm() throws(StorageError) {
        condition.lock()
        while !done { condition.wait() }
        let failure = self.failure
        condition.unlock()
        if let failure { throw failure }
    }

    /// Stops hashing after the current tensor (the caller gave up).
    public func cancel() {
        condition.withLock { cancelled = true }
    }
}

extension Store {
    /// Starts checking the digests of `entries` (of `owner`, for messages) on a thread of its
    /// own; ``BackgroundDigests/confirm()`` waits for the verdict.
    public func checkDigestsInBackground(_ entries: [TensorEntry], owner: String) -> BackgroundDigests {
        BackgroundDigests(store: self, entries: entries, owner: owner)
    }
}
