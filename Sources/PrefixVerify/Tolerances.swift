public import PrefixCore

/// semantics' tolerances on `e = max|A-R| / max(max|R|, 1e-30)`, by the dtype the candidate was
/// computed in.
public struct Tolerances: Sendable, Codable, Hashable {
    /// Per layer, teacher-forced.
    public var perLayer: Double
    /// End to end.
    public var endToEnd: Double

    /// Creates tolerances.
    public init(perLayer: Double, endToEnd: Double) {
        self.perLayer = perLayer
        self.endToEnd = endToEnd
    }

    /// The documented defaults for a reference computed in `dtype`: f64 1e-12 / 1e-10, f32
    /// 1e-5 / 1e-4, f16 5e-3 / 2e-2, bf16 3e-2 / 1e-1 (anything else: the f32 row).
    public static func `for`(_ dtype: DType) -> Tolerances {
        switch dtype {
        case .f64: Tolerances(perLayer: 1e-12, endToEnd: 1e-10)
        case .f16: Tolerances(perLayer: 5e-3, endToEnd: 2e-2)
        case .bf16: Tolerances(perLayer: 3e-2, endToEnd: 1e-1)
        default: Tolerances(perLayer: 1e-5, endToEnd: 1e-4)
        }
    }

    /// The dtype a reference's `meta.compute_dtype` names (`f64`/`float64`, `f16`/`float16`,
    /// `bf16`/`bfloat16`; anything else, or nothing, is taken as f32).
    public static func referenceDType(_ name: String?) -> DType {
        switch name {
        case "f64", "float64": .f64
        case "f16", "float16": .f16
        case "bf16", "bfloat16": .bf16
        default: .f32
        }
    }
}

/// The precision PrefixKit recomputes a composition in.
public enum ComputeDType: String, Sendable, Codable, Hashable, CaseIterable, CustomStringConvertible {
    case f32, f64

    /// `f32` or `f64`, wherever it is printed.
    public var description: String { rawValue }

    /// The tensor dtype of that precision.
    public var dtype: DType { self == .f64 ? .f64 : .f32 }
}
