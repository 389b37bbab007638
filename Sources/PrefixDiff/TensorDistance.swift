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

    /// The distance between `a` and `b`, which hold as many values each.
    public init(_ a: [Double], _ b: [Double]) {
        precondition(a.count == b.count, "tensors of different sizes")
        self.init(Sums(a[...], b[...]))
    }

    /// The distance between two tensors of one shape (any float dtype).
    public init(_ a: Tensor, _ b: Tensor) { self.init(a.doubles(), b.doubles()) }

    /// The distance of the whole and of each of `groups` equal, consecutive slices (the heads of
    /// a `[Hkv, Pn, hd]` tensor) of two tensors of one shape, in one pass; f32 tensors are read in
    /// place, others widened to f64 first.
    public static func grouped(_ a: Tensor, _ b: Tensor, groups: Int) -> (whole: TensorDistance, groups: [TensorDistance]) {
        let count = a.shape.elementCount
        precondition(b.shape.elementCount == count && groups > 0 && count % groups == 0, "tensors of different sizes")
        let size = count / groups
        if a.dtype == .f32, b.dtype == .f32 {
            let parts: [Sums]? = a.withUnsafeBytes { ra in
                b.withUnsafeBytes { rb in
                    guard let pa = ra.baseAddress, let pb = rb.baseAddress, Int(bitPattern: pa) % 4 == 0, Int(bitPattern: pb) % 4 == 0
                    else { return nil }
                    let fa = UnsafeBufferPointer(start: pa.assumingMemoryBound(to: Float.self), count: count)
                    let fb = UnsafeBufferPointer(start: pb.assumingMemoryBound(to: Float.self), count: count)
                    return (0..<groups).map { g in
                        Sums(
                            UnsafeBufferPointer(rebasing: fa[(g * size)..<((g + 1) * size)]),
                            UnsafeBufferPointer(rebasing: fb[(g * size)..<((g + 1) * size)]))
                    }
                }
            }
            if let parts { return (TensorDistance(parts.reduce(Sums(), +)), parts.map(TensorDistance.init)) }
        }
        return grouped(a.doubles(), b.doubles(), groups: groups)
    }

    /// The distance of the whole and of each of `groups` equal, consecutive slices (the heads of a
    /// `[Hkv, Pn, hd]` tensor), in one pass over the values.
    public static func grouped(_ a: [Double], _ b: [Double], groups: Int) -> (whole: TensorDistance, groups: [TensorDistance]) {
        precondition(a.count == b.count && groups > 0 && a.count % groups == 0, "tensors of different sizes")
        let size = a.count / groups
        let parts = (0..<groups).map { g in Sums(a[(g * size)..<((g + 1) * size)], b[(g * size)..<((g + 1) * size)]) }
        return (TensorDistance(parts.reduce(Sums(), +)), parts.map(TensorDistance.init))
    }

    /// The sums every measure is made of, combinable.
    struct Sums {
        var maxAbs = 0.0, diff2 = 0.0, a2 = 0.0, b2 = 0.0, dot = 0.0

        init() {}

        init(_ a: ArraySlice<Double>, _ b: ArraySlice<Double>) {
            self = a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in Sums(a, b) } }
        }

        /// The sums over `a` and `b`, accumulated in f64, eight lanes at once.
        init<T: BinaryFloatingPoint & SIMDScalar>(_ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>) {
            var m = SIMD8<Double>(), d2 = SIMD8<Double>(), x2 = SIMD8<Double>(), y2 = SIMD8<Double>(), xy = SIMD8<Double>()
            let n = a.count, vectors = n / 8
            for v in 0..<vectors {
                let i = v * 8
                var x = SIMD8<Double>(), y = SIMD8<Double>()
                for k in 0..<8 {
                    x[k] = Double(a[i + k])
                    y[k] = Double(b[i + k])
                }
                let d = x - y
                let ad = d.replacing(with: -d, where: d .< 0)
                m.replace(with: ad, where: .!(ad .<= m))
                d2 += d * d
                x2 += x * x
                y2 += y * y
                xy += x * y
            }
            for i in (vectors * 8)..<n {
                let x = Double(a[i]), y = Double(b[i]), d = x - y
                if !(abs(d) <= m[0]) { m[0] = abs(d) }
                d2[0] += d * d
                x2[0] += x * x
                y2[0] += y * y
                xy[0] += x * y
            }
            (diff2, a2, b2, dot) = (d2.sum(), x2.sum(), y2.sum(), xy.sum())
            // A NaN anywhere makes every measure NaN (the squared sums carry it).
            maxAbs = diff2.isNaN ? .nan : m.max()
        }

        static func + (l: Sums, r: Sums) -> Sums {
            var s = Sums()
            s.maxAbs = l.maxAbs.isNaN || r.maxAbs.isNaN ? .nan : max(l.maxAbs, r.maxAbs)
            (s.diff2, s.a2, s.b2, s.dot) = (l.diff2 + r.diff2, l.a2 + r.a2, l.b2 + r.b2, l.dot + r.dot)
            return s
        }
    }

    init(_ sums: Sums) {
        maxAbs = sums.maxAbs
        let scale = max(sums.a2, sums.b2).squareRoot()
        relativeL2 =
            sums.diff2.isNaN ? .nan : scale > 0 ? sums.diff2.squareRoot() / scale : (sums.diff2 > 0 ? .nan : 0)
        cosine =
            sums.a2 > 0 && sums.b2 > 0 && !sums.dot.isNaN
            ? min(1, max(-1, sums.dot / (sums.a2.squareRoot() * sums.b2.squareRoot()))) : nil
    }

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
