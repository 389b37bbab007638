public import PrefixCore

extension DType {
    /// The safetensors spelling (`F32`, `BF16`, `F8_E4M3`, ...).
    public var safetensorsName: String {
        switch self {
        case .f64: "F64"
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .f8e4m3: "F8_E4M3"
        case .f8e5m2: "F8_E5M2"
        case .i64: "I64"
        case .i32: "I32"
        case .i16: "I16"
        case .i8: "I8"
        case .u64: "U64"
        case .u32: "U32"
        case .u16: "U16"
        case .u8: "U8"
        case .bool: "BOOL"
        }
    }

    /// The dtype with safetensors spelling `name`, if PrefixKit supports it.
    public init?(safetensorsName name: String) {
        guard let match = DType.allCases.first(where: { $0.safetensorsName == name }) else { return nil }
        self = match
    }

    /// The position of this dtype in the reference implementation's `Dtype` enum; the reference
    /// writer orders tensors by it, descending (widest alignment first), then by name.
    var safetensorsRank: Int {
        switch self {
        case .bool: 0
        case .u8: 1
        case .i8: 2
        case .f8e5m2: 3
        case .f8e4m3: 4
        case .i16: 5
        case .u16: 6
        case .f16: 7
        case .bf16: 8
        case .i32: 9
        case .u32: 10
        case .f32: 11
        case .f64: 12
        case .i64: 13
        case .u64: 14
        }
    }
}
