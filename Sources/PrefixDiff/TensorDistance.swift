public import PrefixCore

/// How far one tensor is from another of the same shape, computed in f64.
public struct TensorDistance: Sendable, Codable, Hashable {
    /// `max |a - b|`.
    public var maxAbs: Double
    /// `||a - b|| / max(||a||, ||b||)`: symmetric, 0 for equal tensors, at most 2; 0 when both
    /// are zero.
    public var relativeL2: Double
    /// `<a, b> / (||a|| ||b||)`; nil when either is all zeros (no direction to compare).
    public var cosine: Double?

    /// Whether the tensors are equal value for value (`-0 == +0`).
    public var isZero: Bool { maxAbs == 0 }

    /// The distance between `a` and `b`, which hold `count` values each.
    public init(_ a: [Double], _ b: [Double]) {
        precondition(a.count == b.count, "tensors of different sizes")
        var maxAbs = 0.0, diff2 = 0.0, a2 = 0.0, b2 = 0.0, dot = 0.0
        for i in a.indices {
            let x = a[i], y = b[i], d = x - y
            // NaN anywhere makes every measure NaN, which is what a comparison should say.
            maxAbs = d.isNaN ? .nan : max(maxAbs, abs(d))
            diff2 += d * d
            a2 += x * x
            b2 += y * y
            dot += x * y
        }
        self.maxAbs = maxAbs
        let scale = max(a2, b2).squareRoot()
        relativeL2 = scale > 0 ? diff2.squareRoot() / scale : (diff2 > 0 || diff2.isNaN ? .nan : 0)
        cosine = a2 > 0 && b2 > 0 ? min(1, max(-1, dot / (a2.squareRoot() * b2.squareRoot()))) : nil
    }

    /// The distance between two tensors of one shape (any float dtype).
    public init(_ a: Tensor, _ b: Tensor) { self.init(a.doubles(), b.doubles()) }

    enum CodingKeys: String, CodingKey { case maxAbs, relativeL2, cosine }

    /// Encodes each measure, a NaN (a NaN in either tensor) as null: JSON has no NaN.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func put(_ value: Double?, _ key: CodingKeys) throws {
            if let value, value.isFinite { try c.encode(value, forKey: key) } else { try c.encodeNil(forKey: key) }
        }
        try put(maxAbs, .maxAbs)
        try put(relativeL2, .relativeL2)
        try put(cosine, .cosine)
    }

    /// Decodes what ``encode(to:)`` writes (null as NaN, or as no cosine).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxAbs = try c.decodeIfPresent(Double.self, forKey: .maxAbs) ?? .nan
        relativeL2 = try c.decodeIfPresent(Double.self, forKey: .relativeL2) ?? .nan
        cosine = try c.decodeIfPresent(Double.self, forKey: .cosine)
    }
}
