import Foundation
import PrefixCore

/// Loads and hashes the tensors of a save on two worker threads, in order, ahead of the writer
/// by at most `budget` bytes: a save costs about the larger of hashing and writing, not their
/// sum, and holds only a few tensors at a time.
final class DigestPipeline: @unchecked Sendable {
    // Safety: every field below is guarded by `condition`.
    private let items: [LazyTensor]
    private let budget: Int
    private let condition = NSCondition()
    private var next = 0
    private var inFlight = 0
    private var cancelled = false
    private var results: [Int: Result<(Tensor, String), any Error>] = [:]

    /// Starts loading and hashing `items`.
    init(_ items: [LazyTensor], budget: Int = 512 << 20) {
        self.items = items
        self.budget = budget
        for _ in 0..<2 {
            Thread.detachNewThread { [self] in work() }
        }
    }

    private func work() {
        while true {
            condition.lock()
            while !cancelled, next < items.count, inFlight > 0, inFlight + items[next].byteCount > budget { condition.wait() }
            guard !cancelled, next < items.count else {
                condition.unlock()
                return
            }
            let index = next
            next += 1
            inFlight += items[index].byteCount
            condition.unlock()
            let result = Result { () throws -> (Tensor, String) in
                let tensor = try items[index].load()
                return (tensor, tensor.withUnsafeBytes { SHA256Digest.hex(of: $0) })
            }
            condition.lock()
            results[index] = result
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Tensor `index` and its digest, waiting for them if needed.
    func take(_ index: Int) throws -> (tensor: Tensor, digest: String) {
        condition.lock()
        while results[index] == nil { condition.wait() }
        let result = results.removeValue(forKey: index)
        condition.unlock()
        return try (result ?? .failure(CancellationError())).get()
    }

    /// The writer is done with tensor `index`: its bytes leave the budget.
    func finished(_ index: Int) {
        condition.lock()
        inFlight -= items[index].byteCount
        condition.broadcast()
        condition.unlock()
        items[index].release?()
    }

    /// Stops the workers (after an error).
    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        condition.unlock()
    }
}
