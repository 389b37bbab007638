#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only memory mapping of a byte range of a file, unmapped when released.
///
/// Tensors loaded from uncompressed blobs borrow their bytes from one of these: blobs are
/// immutable, so the mapping never changes under them, and nothing is copied.
final class MappedRegion: @unchecked Sendable {
    // Safety: the mapping is read-only and never remapped after init.
    private let mapping: UnsafeMutableRawPointer?
    private let mappingLength: Int
    /// The requested bytes.
    let bytes: UnsafeRawBufferPointer

    /// Maps `length` bytes of `blob` starting at `offset`. With `populate`, the pages are
    /// faulted in up front (`MAP_POPULATE`), which is faster than faulting them one by one when
    /// every byte will be read.
    init(blob: BlobFile, offset: UInt64, length: Int, populate: Bool) throws(StorageError) {
        let path = blob.path
        guard length > 0 else {
            mapping = nil
            mappingLength = 0
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let fd = blob.descriptor
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let start = offset - offset % page
        let lead = Int(offset - start)
        let (total, overflow) = length.addingReportingOverflow(lead)
        guard !overflow else { throw StorageError(.corruptBlob, "tensor range overflows", path: path) }
        var flags = MAP_PRIVATE
        #if os(Linux)
            if populate { flags |= MAP_POPULATE }
        #endif
        guard let pointer = mmap(nil, total, PROT_READ, flags, fd, off_t(start)), pointer != MAP_FAILED else {
            throw FileSystem.errnoError("mmap", path)
        }
        mapping = pointer
        mappingLength = total
        bytes = UnsafeRawBufferPointer(start: pointer + lead, count: length)
    }

    deinit {
        if let mapping { munmap(mapping, mappingLength) }
    }
}
