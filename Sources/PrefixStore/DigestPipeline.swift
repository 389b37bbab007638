import Dispatch
import PrefixCore

/// Hashes a list of tensors on every core, in the background, in order, so that the writer can
/// consume tensor `i`'s digest while later tensors are still being hashed: a save costs about
/// the larger of hashing and writing, not their sum.
final class DigestPipeline: @unchecked Sendable {
    // Safety: slot i is written once by one worker before `ready[i]` is signalled, and read only
    // after waiting on it. The worker closure holds `self`, so the slots outlive every write.
    private let slots: UnsafeMutableBufferPointer<String>
    private let ready: [DispatchSemaphore]

    /// Starts hashing `tensors`.
    init(_ tensors: [Tensor]) {
        let count = tensors.count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: "")
        ready = (0..<count).map { _ in DispatchSemaphore(value: 0) }
        DispatchQueue.global(qos: .userInitiated).async { [self] in
            DispatchQueue.concurrentPerform(iterations: count) { i in
                self.slots[i] = tensors[i].withUnsafeBytes { SHA256Digest.hex(of: $0) }
                self.ready[i].signal()
            }
        }
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    /// The digest of tensor `index`, waiting for it if needed.
    func digest(_ index: Int) -> String {
        ready[index].wait()
        ready[index].signal()
        return slots[index]
    }
}
