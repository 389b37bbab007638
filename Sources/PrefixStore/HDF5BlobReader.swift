internal import CHDF5
import PrefixCore
import PrefixStoreRules

/// Reads datasets of a blob file through libhdf5: to check their structure against the catalog,
/// and to read chunked (compressed) datasets, which have no single file offset.
///
/// The file's superblock is validated in Swift before libhdf5 sees it.
final class HDF5BlobReader {
    let path: String
    private let blob: BlobFile
    /// The blob's size in bytes.
    var fileSize: UInt64 { blob.size }
    private var file: hid_t

    /// What a dataset declares about itself.
    struct DatasetInfo {
        var dtypeAttribute: String?
        var dimensions: [Int]
        var matchesType: Bool
        var offset: UInt64?
        var isChunked: Bool
        /// How many attributes the dataset carries (PrefixKit writes one, `dtype`).
        var attributeCount: Int
        /// The bytes its data takes in the file. The corresponding call is `H5Dget_storage_size`.
        var storageSize: UInt64
        /// The ids of its filters, in order (PrefixKit writes shuffle 2 and deflate 1).
        var filters: [Int32]
    }

    /// Opens `blob` read-only: libhdf5 opens the very descriptor `blob` checked, never the path
    /// again.
    ///
    /// - Throws: ``StorageError`` `.corruptBlob` when the superblock is missing or truncated,
    ///   or libhdf5 refuses the file.
    init(blob: BlobFile) throws(StorageError) {
        self.blob = blob
        self.path = blob.path
        if let problem = HDF5Superblock.validate(header: try blob.readHeader(64), fileSize: blob.size) {
            throw StorageError(.corruptBlob, "not a valid HDF5 file (\(problem))", path: path)
        }
        do {
            let opened = blob.descriptorPath
            file = try HDF5.serialized { () throws(HDF5Error) -> hid_t in
                try HDF5.check(H5Fopen(opened, chdf5_f_acc_rdonly(), hid_t(H5P_DEFAULT)), "H5Fopen", blob.path)
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
            guard rank <= 32 else {
                throw HDF5Error(call: "H5Sget_simple_extent_ndims", subject: subject, frames: ["rank \(rank) too large"])
            }
            var dims = [hsize_t](repeating: 0, count: Int(rank))
            if rank > 0 { try HDF5.check(H5Sget_simple_extent_dims(space.id, &dims, nil), "H5Sget_simple_extent_dims", subject) }
            let stored = H5Handle(try HDF5.check(H5Dget_type(dataset.id), "H5Dget_type", subject), .datatype)
            let expected = try HDF5.fileType(for: dtype)
            let equal = H5Tequal(stored.id, expected.id)
            let dcpl = H5Handle(try HDF5.check(H5Dget_create_plist(dataset.id), "H5Dget_create_plist", subject), .propertyList)
            let layout = H5Pget_layout(dcpl.id)
            let offset = H5Dget_offset(dataset.id)
            let attribute = try HDF5.readStringAttribute(dataset.id, "dtype", subject: subject)
            let attributes = H5Aget_num_attrs(dataset.id)
            try HDF5.check(herr_t(attributes < 0 ? -1 : 0), "H5Aget_num_attrs", subject)
            let filterCount = H5Pget_nfilters(dcpl.id)
            try HDF5.check(filterCount, "H5Pget_nfilters", subject)
            var filters: [Int32] = []
            for index in 0..<UInt32(max(0, min(filterCount, 32))) {
                var flags: UInt32 = 0
                var count = 0
                var config: UInt32 = 0
                let filter = H5Pget_filter2(dcpl.id, index, &flags, &count, nil, 0, nil, &config)
                try HDF5.check(filter, "H5Pget_filter2", subject)
                filters.append(filter)
            }
            return DatasetInfo(
                dtypeAttribute: attribute, dimensions: dims.map { Int(clamping: $0) },
                matchesType: equal > 0, offset: offset == chdf5_haddr_undef() ? nil : UInt64(offset),
                isChunked: layout == H5D_CHUNKED, attributeCount: Int(attributes), storageSize: H5Dget_storage_size(dataset.id),
                filters: filters)
        }
    }

    /// The most bytes deflate can restore from one stored byte: a DEFLATE stream spends at
    /// least 2 bits on a 258-byte match (RFC 1951), so no chunk inflates past 1032 times its size.
    static let maxDeflateRatio: UInt64 = 1032

    /// Why reading a chunked dataset of `byteLength` bytes could cost more memory than its
    /// stored bytes can hold, or `nil`: only the filters PrefixKit writes (shuffle, deflate,
    /// Fletcher-32) are accepted, and the dataset may not declare more than its stored bytes
    /// inflate to (unwritten chunks, which libhdf5 would fill in, count as nothing).
    static func expansionProblem(_ info: DatasetInfo, byteLength: Int64, fileSize: UInt64) -> String? {
        guard byteLength > 0 else { return nil }
        guard info.isChunked else {
            // Contiguous (or compact) data: exactly its bytes, inside the file.
            if let offset = info.offset,
                offset.addingReportingOverflow(UInt64(byteLength)).partialValue > fileSize
                    || offset > fileSize
            {
                return "declares \(byteLength) bytes at offset \(offset), past the file's \(fileSize) bytes"
            }
            return nil
        }
        let known: Set<Int32> = [1, 2, 3]  // H5Z_FILTER_DEFLATE, _SHUFFLE, _FLETCHER32
        if let unknown = info.filters.first(where: { !known.contains($0) }) {
            return "filter \(unknown) is not one PrefixKit writes (shuffle, deflate): refused"
        }
        let (bound, overflow) = info.storageSize.multipliedReportingOverflow(by: maxDeflateRatio)
        if !overflow, UInt64(byteLength) > bound + 4096 {
            return
                "declares \(byteLength) bytes but stores \(info.storageSize): more than deflate can restore (at most \(maxDeflateRatio)x)"
        }
        return nil
    }

    /// Reads dataset `datasetPath` (whose type was checked to be `dtype`) into `buffer`, which
    /// must be exactly the dataset's size. The corresponding HDF5 call is `H5Dread`.
    func read(_ datasetPath: String, dtype: DType, into buffer: UnsafeMutableRawBufferPointer) throws(HDF5Error) {
        guard buffer.count > 0 else { return }
        try HDF5.serialized { () throws(HDF5Error) in
            let subject = "\(path):\(datasetPath)"
            let dataset = H5Handle(try HDF5.check(H5Dopen2(file, datasetPath, hid_t(H5P_DEFAULT)), "H5Dopen2", subject), .dataset)
            let type = try HDF5.fileType(for: dtype)
            try HDF5.check(
                H5Dread(dataset.id, type.id, hid_t(H5S_ALL), hid_t(H5S_ALL), hid_t(H5P_DEFAULT), buffer.baseAddress),
                "H5Dread", subject)
        }
    }

    /// Visits every object of the file as h5py's `visititems` would, opening each and, for a
    /// dataset, reading its dataspace, type and every attribute: damage anywhere h5py would
    /// walk shows here, not only in the datasets the catalog names. Returns the number of
    /// objects. The corresponding HDF5 call is `H5Ovisit2`.
    func walk() throws(HDF5Error) -> Int {
        try HDF5.serialized { () throws(HDF5Error) -> Int in
            final class Visit { var objects = 0; var failed: String? }
            let visit = Visit()
            let status = withExtendedLifetime(visit) {
                H5Ovisit2(
                    file, H5_INDEX_NAME, H5_ITER_NATIVE,
                    { object, name, _, context in
                        guard let context, let name else { return -1 }
                        let visit = Unmanaged<Visit>.fromOpaque(context).takeUnretainedValue()
                        visit.objects += 1
                        let id = H5Oopen(object, name, hid_t(H5P_DEFAULT))
                        guard id >= 0 else { visit.failed = "cannot open \(String(cString: name))"; return -1 }
                        defer { H5Oclose(id) }
                        if H5Iget_type(id) == H5I_DATASET {
                            let space = H5Dget_space(id), type = H5Dget_type(id)
                            defer {
                                if space >= 0 { H5Sclose(space) }
                                if type >= 0 { H5Tclose(type) }
                            }
                            guard space >= 0, type >= 0, H5Sget_simple_extent_ndims(space) >= 0, H5Tget_size(type) > 0 else {
                                visit.failed = "cannot read the dataspace or type of \(String(cString: name))"
                                return -1
                            }
                            let attributes = H5Aget_num_attrs(id)
                            guard attributes >= 0 else {
                                visit.failed = "cannot count the attributes of \(String(cString: name))"; return -1
                            }
                            for index in 0..<UInt32(attributes) {
                                let attribute = H5Aopen_idx(id, index)
                                guard attribute >= 0 else {
                                    visit.failed = "cannot open an attribute of \(String(cString: name))"; return -1
                                }
                                let attributeType = H5Aget_type(attribute)
                                var ok = attributeType >= 0 && H5Tget_size(attributeType) > 0
                                // Variable-length strings (PrefixKit's `dtype`) live in the global
                                // heap: read the value, as h5py's attrs do.
                                if ok, H5Tget_class(attributeType) == H5T_STRING, H5Tis_variable_str(attributeType) > 0 {
                                    var value: UnsafeMutablePointer<CChar>? = nil
                                    ok = H5Aread(attribute, attributeType, &value) >= 0
                                    if let value { H5free_memory(value) }
                                }
                                if attributeType >= 0 { H5Tclose(attributeType) }
                                H5Aclose(attribute)
                                guard ok else { visit.failed = "cannot read an attribute of \(String(cString: name))"; return -1 }
                            }
                        }
                        return 0
                    }, Unmanaged.passUnretained(visit).toOpaque(), 0x001f)  // H5O_INFO_ALL, as h5py asks
            }
            guard status >= 0 else {
                var error = HDF5.failure("H5Ovisit2", path)
                if let failed = visit.failed { error.frames.append(failed) }
                throw error
            }
            return visit.objects
        }
    }
}
