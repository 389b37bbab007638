/// The element type of a tensor.
///
/// A closed set: every format PrefixKit reads maps its own spelling onto one of these cases
/// (safetensors `"F32"`, NumPy `"<f4"`, an HDF5 type class) in that format's code, and an
/// unknown spelling is an error there, never a trap here.
///
/// The 8-bit float types (`f8e4m3`, `f8e5m2`) are kept and round-tripped as raw bits; they are
/// widened to `Float` only for compute.
///
/// ## Topics
/// ### Properties
/// - ``bitWidth``
/// - ``byteWidth``
/// - ``isFloatingPoint``
public enum DType: String, Sendable, CaseIterable, Codable, Hashable {
    case f64, f32, f16, bf16
    case f8e4m3, f8e5m2
    case i64, i32, i16, i8
    case u64, u32, u16, u8
    case bool

    /// The number of bits one element occupies.
    public var bitWidth: Int {
        switch self {
        case .f64, .i64, .u64: 64
        case .f32, .i32, .u32: 32
        case .f16, .bf16, .i16, .u16: 16
        case .f8e4m3, .f8e5m2, .i8, .u8, .bool: 8
        }
    }

    /// The number of bytes one element occupies.
    public var byteWidth: Int { bitWidth / 8 }

    /// Whether the type holds floating-point numbers (including the 8-bit float formats).
    public var isFloatingPoint: Bool {
        switch self {
        case .f64, .f32, .f16, .bf16, .f8e4m3, .f8e5m2: true
        default: false
        }
    }

    /// Parses PrefixKit's own spelling (the raw value, e.g. `"f32"`, `"bf16"`).
    ///
    /// - Throws: ``CoreError`` with code `.unknownDType` for any other text.
    public init(parsing text: String) throws(CoreError) {
        guard let value = DType(rawValue: text) else {
            throw CoreError(.unknownDType, "unknown dtype '\(text)'",
                            expected: DType.allCases.map(\.rawValue).joined(separator: ", "), actual: text)
        }
        self = value
    }
}
