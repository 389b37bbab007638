/// A small, fast, seedable random generator (SplitMix64) for reproducible synthetic models,
/// fixtures and benchmarks. Not for anything secret.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator; the same seed always yields the same sequence.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform `Float` in [0, 1).
    public mutating func unit() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// `count` normally distributed values with standard deviation `scale` (Box-Muller).
    public mutating func normals(_ count: Int, scale: Float) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let u1 = max(unit(), 0x1p-24)
            let u2 = unit()
            let r = (-2 * logf(u1)).squareRoot() * scale
            out[i] = r * cosf(2 * .pi * u2)
            if i + 1 < count { out[i + 1] = r * sinf(2 * .pi * u2) }
            i += 2
        }
        return out
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
