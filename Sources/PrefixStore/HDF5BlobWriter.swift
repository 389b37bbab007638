internal import CHDF5
internal import CPosix
import PrefixCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes one new, immutable HDF5 blob file: a dataset per tensor, with a `dtype` attribute on
/// each, created with `H5F_ACC_EXCL` so an existing file is never overwritten.
///
/// Datasets are contiguous by default, so each tensor's bytes sit at one file offset (recorded
/// in the catalog and read back by mapping the file). With compression, datasets are chunked and
/// gzip'ed (with the shuffle filter) and read back through libhdf5.
final class HDF5BlobWriter {
    let path: String
    private var file: hid_t
    private let compression: Compression
    private let linkProperties: hid_t

    /// Creates the file at `path`.
    init(path: String, compression: Compression) throws(HDF5Error) {
        self.path = path
        self.compression = compression
        (file, linkProperties) = try HDF5.serialized { () throws(HDF5Error) -> (hid_t, hid_t) in
            let file = try HDF5.check(H5Fcreate(path, chdf5_f_acc_excl(), hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)), "H5Fcreate", path)
            // Intermediate groups (/prefix/layer_00 for /prefix/layer_00/key) are created on demand.
            let lcpl = H5Pcreate(chdf5_p_link_create())
            guard lcpl >= 0, H5Pset_create_intermediate_group(lcpl, 1) >= 0 else {
                let error = HDF5.failure("H5Pset_create_intermediate_group", path)
                _ = H5Fclose(file)
                throw error
            }
            do throws(HDF5Error) {
                try HDF5.writeStringAttribute(file, "format", "prefixkit-blob", subject: path)
                try HDF5.writeStringAttribute(file, "format_version", "1", subject: path)
            } catch {
                _ = H5Pclose(lcpl)
                _ = H5Fclose(file)
                throw error
            }
            return (file, lcpl)
        }
    }

    deinit {
        // Only reached open on an error path; the file is then discarded by the caller.
        if file >= 0 { abandon() }
    }

    /// Writes `tensor` as dataset `datasetPath` and returns its file offset when the dataset is
    /// contiguous and non-empty (`nil` otherwise).
    ///
    /// The corresponding HDF5 calls are `H5Dcreate2`, `H5Dwrite` and `H5Dget_offset`.
    func write(_ tensor: Tensor, at datasetPath: String) throws(HDF5Error) -> UInt64? {
        precondition(file >= 0, "write after close")
        return try HDF5.serialized { () throws(HDF5Error) -> UInt64? in
            let subject = "\(path):\(datasetPath)"
            let type = try HDF5.fileType(for: tensor.dtype)
            let dims = tensor.shape.dimensions.map { hsize_t($0) }
            let space = H5Handle(try HDF5.check(
                dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil),
                "H5Screate_simple", subject), .dataspace)
            let dcpl = H5Handle(try HDF5.check(H5Pcreate(chdf5_p_dataset_create()), "H5Pcreate", subject), .propertyList)
            try HDF5.check(H5Pset_fill_time(dcpl.id, H5D_FILL_TIME_NEVER), "H5Pset_fill_time", subject)
            if case .gzip(let level) = compression, !dims.isEmpty, !dims.contains(0) {
                let chunk = Self.chunkShape(dims, elementSize: tensor.dtype.byteWidth)
                try HDF5.check(H5Pset_chunk(dcpl.id, Int32(chunk.count), chunk), "H5Pset_chunk", subject)
                try HDF5.check(H5Pset_shuffle(dcpl.id), "H5Pset_shuffle", subject)
                try HDF5.check(H5Pset_deflate(dcpl.id, UInt32(level)), "H5Pset_deflate", subject)
            }
            let dataset = H5Handle(try HDF5.check(
                H5Dcreate2(file, datasetPath, type.id, space.id, linkProperties, dcpl.id, hid_t(H5P_DEFAULT)),
                "H5Dcreate2", subject), .dataset)
            if tensor.byteCount > 0 {
                let status = tensor.withUnsafeBytes { H5Dwrite(dataset.id, type.id, hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), $0.baseAddress) }
                try HDF5.check(status, "H5Dwrite", subject)
            }
            try HDF5.writeStringAttribute(dataset.id, "dtype", tensor.dtype.hdf5AttributeName, subject: subject)
            let offset = H5Dget_offset(dataset.id)
            try dataset.close()
            return offset == chdf5_haddr_undef() || tensor.byteCount == 0 ? nil : UInt64(offset)
        }
    }

    /// Asks the kernel to start writing the file's dirty pages to disk now, so that the final
    /// fsync has little left to do. Advisory: failures are ignored.
    func startWriteback() {
        #if os(Linux)
        HDF5.serialized {
            var handle: UnsafeMutableRawPointer?
            guard file >= 0, H5Fget_vfd_handle(file, hid_t(H5P_DEFAULT), &handle) >= 0, let handle else { return }
            let fd = handle.load(as: Int32.self)
            _ = cposix_start_writeback(fd)
        }
        #endif
    }

    /// Closes the file, flushing HDF5's metadata. The corresponding HDF5 call is `H5Fclose`.
    func close() throws(HDF5Error) {
        guard file >= 0 else { return }
        let (file, lcpl) = (self.file, linkProperties)
        self.file = -1
        try HDF5.serialized { () throws(HDF5Error) in
            _ = H5Pclose(lcpl)
            try HDF5.check(H5Fclose(file), "H5Fclose", path)
        }
    }

    /// Closes the file ignoring errors (the caller deletes it).
    func abandon() {
        guard file >= 0 else { return }
        let (file, lcpl) = (self.file, linkProperties)
        self.file = -1
        HDF5.serialized {
            _ = H5Pclose(lcpl)
            _ = H5Fclose(file)
        }
    }

    /// A chunk of about 1 MiB: whole trailing dimensions, split along the leading one.
    static func chunkShape(_ dims: [hsize_t], elementSize: Int) -> [hsize_t] {
        let target: hsize_t = 1 << 20
        var chunk = dims
        let rowBytes = dims.dropFirst().reduce(hsize_t(elementSize), *)
        chunk[0] = max(1, min(dims[0], target / max(rowBytes, 1)))
        return chunk
    }
}

/// Compression of new blob datasets, a per-store setting.
public enum Compression: Sendable, Hashable, CustomStringConvertible {
    /// Contiguous, uncompressed datasets (the default: reads map the file directly).
    case none
    /// Chunked datasets with the shuffle filter and gzip at `level` (1-9).
    case gzip(level: Int)

    /// `none` or `gzip:LEVEL`.
    public var description: String {
        switch self {
        case .none: "none"
        case .gzip(let level): "gzip:\(level)"
        }
    }

    /// Parses `none`, `gzip` (level 4) or `gzip:LEVEL`.
    ///
    /// - Throws: ``StorageError`` `.invalidArgument`.
    public init(parsing text: String) throws(StorageError) {
        if text == "none" { self = .none; return }
        if text == "gzip" { self = .gzip(level: 4); return }
        if text.hasPrefix("gzip:"), let level = Int(text.dropFirst(5)), (1...9).contains(level) {
            self = .gzip(level: level)
            return
        }
        throw StorageError(.invalidArgument, "unknown compression '\(text)': expected none, gzip or gzip:1-9")
    }
}
