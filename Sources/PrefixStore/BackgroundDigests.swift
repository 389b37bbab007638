import Foundation
import PrefixCore

/// The digests of stored tensors, checked on threads of their own while the caller computes
/// with the same bytes: a cold forward then costs about the larger of hashing and computing,
/// not their sum. Nothing computed from the tensors may be trusted, written or reported until
/// ``confirm()`` returns.
///
/// The tensors are hashed in the order their blobs hold them (the order a save wrote them, which
/// is the order the engine reads them), so the hashing also brings their pages in ahead of the
/// computation.
public final class BackgroundDigests: @unchecked Sendable {
    // Safety: every field below is guarded by `condition`.
    private let condition = NSCondition()
    private let ordered: [TensorEntry]
    private var next = 0
    private var running: Int
    private var failures: [Int: StorageError] = [:]
    private var cancelled = false

    init(store: Store, entries: [TensorEntry], owner: String, threads: Int) {
        ordered = entries.sorted { ($0.blobPath, $0.fileOffset ?? 0) < ($1.blobPath, $1.fileOffset ?? 0) }
        running = max(1, threads)
        for _ in 0..<running {
            Thread.detachNewThread { [self] in
                while let index = take() {
                    do throws(StorageError) {
                        _ = try store.load(ordered[index], verify: true, owner: owner, populate: false)
                    } catch {
                        condition.withLock { failures[index] = error }
                    }
                }
                condition.withLock {
                    running -= 1
                    condition.broadcast()
                }
            }
        }
    }

    /// The next tensor to hash, or nil when there is none (or hashing stopped).
    private func take() -> Int? {
        condition.withLock {
            guard !cancelled, failures.isEmpty, next < ordered.count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    /// Waits until every digest is checked.
    ///
    /// - Throws: ``StorageError`` `.digestMismatch` (or the read failure) of the first tensor
    ///   that failed, in the order they were hashed.
    public func confirm() throws(StorageError) {
        condition.lock()
        while running > 0 { condition.wait() }
        let failure = failures.min { $0.key < $1.key }?.value
        condition.unlock()
        if let failure { throw failure }
    }

    /// Stops hashing after the tensors being hashed (the caller gave up).
    public func cancel() {
        condition.withLock { cancelled = true }
    }
}

extension Store {
    /// Starts checking the digests of `entries` (of `owner`, for messages) on `threads` threads
    /// of their own; ``BackgroundDigests/confirm()`` waits for the verdict.
    public func checkDigestsInBackground(_ entries: [TensorEntry], owner: String, threads: Int = 1) -> BackgroundDigests {
        BackgroundDigests(store: self, entries: entries, owner: owner, threads: threads)
    }
}
