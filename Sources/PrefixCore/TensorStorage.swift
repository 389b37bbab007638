/// The bytes behind a ``Tensor``: either owned by the tensor or a read-only window into memory
/// owned by something else (a memory-mapped blob file), which `owner` keeps alive.
///
/// Tensors share storage until one of them is mutated (copy-on-write); borrowed storage is
/// always copied before a write.
public final class TensorStorage: @unchecked Sendable {
    // Safety: the bytes are only written through `Tensor.withUnsafeMutableBytes`, which first
    // makes the storage uniquely referenced and owned, so no other thread can see a write.
    @usableFromInline let base: UnsafeMutableRawPointer?
    @usableFromInline let count: Int
    private let owner: AnyObject?
    private let ownsMemory: Bool

    /// Allocates `count` zeroed bytes, 64-byte aligned.
    public init(zeroedByteCount count: Int) {
        precondition(count >= 0, "negative byte count")
        if count == 0 {
            base = nil
        } else {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: count)
            base = pointer
        }
        self.count = count
        owner = nil
        ownsMemory = true
    }

    /// Allocates uninitialised bytes and lets `initialize` fill all of them.
    public init(
        uninitializedByteCount count: Int,
        initializingWith initialize: (UnsafeMutableRawBufferPointer) throws -> Void
    ) rethrows {
        precondition(count >= 0, "negative byte count")
        let pointer = count == 0 ? nil : UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        do {
            try initialize(UnsafeMutableRawBufferPointer(start: pointer, count: count))
        } catch {
            pointer?.deallocate()
            throw error
        }
        base = pointer
        self.count = count
        owner = nil
        ownsMemory = true
    }

    /// Wraps `bytes`, which stay valid as long as `owner` is alive. Never written to.
    public init(borrowing bytes: UnsafeRawBufferPointer, owner: AnyObject) {
        base = bytes.baseAddress.map { UnsafeMutableRawPointer(mutating: $0) }
        count = bytes.count
        self.owner = owner
        ownsMemory = false
    }

    deinit {
        if ownsMemory { base?.deallocate() }
    }

    /// Whether the bytes belong to this storage (and may be written once uniquely referenced).
    var isOwned: Bool { ownsMemory }

    /// The bytes, read-only.
    @inlinable
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Lets the kernel drop the resident pages of borrowed bytes whose owner maps them from a
    /// file (``FilePages``), once they have been consumed: the next read brings them back from
    /// the file. A no-op for owned memory, whose pages hold the only copy.
    public func releaseFilePages() {
        guard !ownsMemory, count > 0, let pages = owner as? any FilePages else { return }
        pages.releasePages(bytes)
    }

    func copy() -> TensorStorage {
        TensorStorage(uninitializedByteCount: count) { destination in
            if count > 0 { destination.copyMemory(from: bytes) }
        }
    }
}

/// An owner of read-only bytes mapped from a file, whose resident pages can be dropped after use
/// (`madvise(MADV_DONTNEED)`) so that streaming through a file larger than memory keeps a small
/// footprint.
public protocol FilePages: AnyObject {
    /// Drops the resident pages of `bytes` (which lie in this owner's mapping).
    func releasePages(_ bytes: UnsafeRawBufferPointer)
}
