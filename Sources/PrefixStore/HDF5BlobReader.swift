internal import CHDF5
import PrefixCore

/// Reads datasets of a blob file through libhdf5: to check their structure against the catalog,
/// and to read chunked (compressed) datasets, which have no single file offset.
///
/// The file's superblock is validated in Swift before libhdf5 sees it.
final class HDF5BlobReader {
    let path: String
    private var file: hid_t

    /// What a dataset declares about itself.
    struct DatasetInfo {
        var dtypeAttribute: String?
        var dimensions: [Int]
        var matchesType: Bool
        var offset: UInt64?
        var isChunked: Bool
    }

    /// Opens `path` read-only.
    ///
    /// - Throws: ``StorageError`` `.corruptBlob` when the superblock is missing or truncated,
    ///   `.io` when the file cannot be read or libhdf5 refuses it.
    init(path: String) throws(StorageError) {
        self.path = path
        let problem: HDF5Superblock.Problem?
        do {
            problem = try HDF5Superblock.validate(path: path)
        } catch {
            throw StorageError(.io, "cannot read blob", path: path, underlying: error)
        }
        if let problem {
            throw StorageError(.corruptBlob, "not a valid HDF5 file (\(problem))", path: path)
        }
        do {
            file = try HDF5.serialized { () throws(HDF5Error) -> hid_t in
                try HDF5.check(H5Fopen(path, chdf5_f_acc_rdonly(), hid_t(H5P_DEFAULT)), "H5Fopen", path)
            }
        } catch {
            throw StorageError(.corruptBlob, "libhdf5 cannot open the blob", path: path, underlying: error)
        }
    }

    deinit { close() }

    /// Closes the file (read-only: nothing to flush).
    func close() {
        guard file >= 0 else { return }
        let file = self.file
        self.file = -1
        HDF5.serialized { _ = H5Fclose(file) }
    }

    /// The number of objects still open in this file (1 means only the file itself).
    var openObjectCount: Int {
        HDF5.serialized { Int(H5Fget_obj_count(file, chdf5_f_obj_all())) }
    }

    /// Describes dataset `datasetPath`, checking its stored type against `dtype`.
    func info(_ datasetPath: String, expecting dtype: DType) throws(HDF5Error) -> DatasetInfo {
        try HDF5.serialized { () throws(HDF5Error) -> DatasetInfo in
            let subject = "\(path):\(datasetPath)"
            let dataset = H5Handle(try HDF5.check(H5Dopen2(file, datasetPath, hid_t(H5P_DEFAULT)), "H5Dopen2", subject), .dataset)
            let space = H5Handle(try HDF5.check(H5Dget_space(dataset.id), "H5Dget_space", subject), .dataspace)
            let rank = H5Sget_simple_extent_ndims(space.id)
            try HDF5.check(rank, "H5Sget_simple_extent_ndims", subject)
            guard rank <= 32 else { throw HDF5Error(call: "H5Sget_simple_extent_ndims", subject: subject, frames: ["rank \(rank) too large"]) }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            if rank > 0 { try HDF5.check(H5Sget_simple_extent_dims(space.id, &dims, nil), "H5Sget_simple_extent_dims", subject) }
            let stored = H5Handle(try HDF5.check(H5Dget_type(dataset.id), "H5Dget_type", subject), .datatype)
            let expected = try HDF5.fileType(for: dtype)
            let equal = H5Tequal(stored.id, expected.id)
            let dcpl = H5Handle(try HDF5.check(H5Dget_create_plist(dataset.id), "H5Dget_create_plist", subject), .propertyList)
            let layout = H5Pget_layout(dcpl.id)
            let offset = H5Dget_offset(dataset.id)
            let attribute = try HDF5.readStringAttribute(dataset.id, "dtype", subject: subject)
            return DatasetInfo(dtypeAttribute: attribute, dimensions: dims.map { Int(clamping: $0) },
                               matchesType: equal > 0, offset: offset == chdf5_haddr_undef() ? nil : UInt64(offset),
                               isChunked: layout == H5D_CHUNKED)
        }
    }

    /// Reads dataset `datasetPath` (whose type was checked to be `dtype`) into `buffer`, which
    /// must be exactly the dataset's size. The corresponding HDF5 call is `H5Dread`.
    func read(_ datasetPath: String, dtype: DType, into buffer: UnsafeMutableRawBufferPointer) throws(HDF5Error) {
        guard buffer.count > 0 else { return }
        try HDF5.serialized { () throws(HDF5Error) in
            let subject = "\(path):\(datasetPath)"
            let dataset = H5Handle(try HDF5.check(H5Dopen2(file, datasetPath, hid_t(H5P_DEFAULT)), "H5Dopen2", subject), .dataset)
            let type = try HDF5.fileType(for: dtype)
            try HDF5.check(H5Dread(dataset.id, type.id, hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), buffer.baseAddress),
                           "H5Dread", subject)
        }
    }
}
