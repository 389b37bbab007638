internal import CHDF5
public import PrefixCore

extension DType {
    /// The value of the `dtype` attribute PrefixKit puts on every dataset: NumPy's name, or
    /// ml_dtypes' for the types NumPy lacks (`bfloat16`, `float8_e4m3fn`, `float8_e5m2`), whose
    /// datasets hold the raw 16- or 8-bit payload as unsigned integers (Keras' convention).
    public var hdf5AttributeName: String {
        switch self {
        case .f64: "float64"
        case .f32: "float32"
        case .f16: "float16"
        case .bf16: "bfloat16"
        case .f8e4m3: "float8_e4m3fn"
        case .f8e5m2: "float8_e5m2"
        case .i64: "int64"
        case .i32: "int32"
        case .i16: "int16"
        case .i8: "int8"
        case .u64: "uint64"
        case .u32: "uint32"
        case .u16: "uint16"
        case .u8: "uint8"
        case .bool: "bool"
        }
    }

    /// The dtype whose ``hdf5AttributeName`` is `name`, if any.
    public init?(hdf5AttributeName name: String) {
        guard let match = DType.allCases.first(where: { $0.hdf5AttributeName == name }) else { return nil }
        self = match
    }
}

extension HDF5 {
    /// A new (owned) HDF5 datatype that stores `dtype` in a file, readable by h5py as the
    /// matching NumPy type. The same type is used in memory, so HDF5 never converts.
    static func fileType(for dtype: DType) throws(HDF5Error) -> H5Handle {
        func copy(_ id: hid_t) throws(HDF5Error) -> H5Handle {
            H5Handle(try check(H5Tcopy(id), "H5Tcopy", "type \(dtype)"), .datatype)
        }
        switch dtype {
        case .f64: return try copy(chdf5_t_ieee_f64le())
        case .f32: return try copy(chdf5_t_ieee_f32le())
        case .f16:
            // IEEE binary16, laid out exactly as h5py's float16.
            let type = try copy(chdf5_t_ieee_f32le())
            try check(H5Tset_fields(type.id, 15, 10, 5, 0, 10), "H5Tset_fields", "float16")
            try check(H5Tset_size(type.id, 2), "H5Tset_size", "float16")
            try check(H5Tset_ebias(type.id, 15), "H5Tset_ebias", "float16")
            return type
        case .bf16, .u16: return try copy(chdf5_t_std_u16le())
        case .f8e4m3, .f8e5m2, .u8: return try copy(chdf5_t_std_u8le())
        case .i8: return try copy(chdf5_t_std_i8le())
        case .i16: return try copy(chdf5_t_std_i16le())
        case .i32: return try copy(chdf5_t_std_i32le())
        case .u32: return try copy(chdf5_t_std_u32le())
        case .i64: return try copy(chdf5_t_std_i64le())
        case .u64: return try copy(chdf5_t_std_u64le())
        case .bool:
            // h5py's bool: an int8 enum with FALSE = 0 and TRUE = 1.
            let type = H5Handle(try check(H5Tenum_create(chdf5_t_native_int8()), "H5Tenum_create", "bool"), .datatype)
            var falseValue: Int8 = 0
            var trueValue: Int8 = 1
            try check(H5Tenum_insert(type.id, "FALSE", &falseValue), "H5Tenum_insert", "bool")
            try check(H5Tenum_insert(type.id, "TRUE", &trueValue), "H5Tenum_insert", "bool")
            return type
        }
    }

    /// A variable-length UTF-8 string type (h5py reads its attributes as `str`).
    static func stringType() throws(HDF5Error) -> H5Handle {
        let type = H5Handle(try check(H5Tcopy(chdf5_t_c_s1()), "H5Tcopy", "string type"), .datatype)
        try check(H5Tset_size(type.id, chdf5_variable()), "H5Tset_size", "string type")
        try check(H5Tset_cset(type.id, H5T_CSET_UTF8), "H5Tset_cset", "string type")
        return type
    }

    /// Writes a scalar string attribute `name = value` on object `object`.
    static func writeStringAttribute(_ object: hid_t, _ name: String, _ value: String, subject: String) throws(HDF5Error) {
        let type = try stringType()
        let space = H5Handle(try check(H5Screate(H5S_SCALAR), "H5Screate", subject), .dataspace)
        let attribute = H5Handle(try check(H5Acreate2(object, name, type.id, space.id, hid_t(H5P_DEFAULT), hid_t(H5P_DEFAULT)),
                                           "H5Acreate2", "\(subject) attribute \(name)"), .attribute)
        let status: herr_t = value.withCString { cString in
            var pointer: UnsafePointer<CChar>? = cString
            return H5Awrite(attribute.id, type.id, &pointer)
        }
        try check(status, "H5Awrite", "\(subject) attribute \(name)")
        try attribute.close()
    }

    /// Reads a scalar string attribute, or `nil` when the object has none by that name.
    static func readStringAttribute(_ object: hid_t, _ name: String, subject: String) throws(HDF5Error) -> String? {
        let exists = H5Aexists(object, name)
        try check(herr_t(exists < 0 ? -1 : 0), "H5Aexists", subject)
        if exists == 0 { return nil }
        let attribute = H5Handle(try check(H5Aopen(object, name, hid_t(H5P_DEFAULT)), "H5Aopen", "\(subject) attribute \(name)"), .attribute)
        let fileType = H5Handle(try check(H5Aget_type(attribute.id), "H5Aget_type", subject), .datatype)
        guard H5Tget_class(fileType.id) == H5T_STRING, H5Tis_variable_str(fileType.id) > 0 else { return nil }
        let memoryType = try stringType()
        var pointer: UnsafeMutablePointer<CChar>? = nil
        try check(H5Aread(attribute.id, memoryType.id, &pointer), "H5Aread", "\(subject) attribute \(name)")
        defer { if let pointer { H5free_memory(pointer) } }
        return pointer.map { String(cString: $0) }
    }
}
