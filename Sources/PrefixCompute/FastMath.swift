#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The C library's functions under names that do not clash with generic code.
enum LibM {
    @inline(__always) static func exp(_ x: Double) -> Double { Glibc.exp(x) }
    @inline(__always) static func tanh(_ x: Double) -> Double { Glibc.tanh(x) }
    @inline(__always) static func cos(_ x: Double) -> Double { Glibc.cos(x) }
    @inline(__always) static func sin(_ x: Double) -> Double { Glibc.sin(x) }
    @inline(__always) static func pow(_ x: Double, _ y: Double) -> Double { Glibc.pow(x, y) }
    @inline(__always) static func log(_ x: Double) -> Double { Glibc.log(x) }
    @inline(__always) static func erf(_ x: Double) -> Double { Glibc.erf(x) }
}

/// Vectorised single-precision kernels for the f32 path.
///
/// `exp` follows the classic Cephes scheme: split `x = n ln2 + r` with `|r| <= ln2/2`, evaluate
/// a degree-6 polynomial for `e^r`, scale by `2^n` through the exponent bits. Its relative error
/// is below 2e-7 over the whole range (tested against `Foundation.exp`), far inside the f32
/// tolerance of 1e-5.
enum FastMath {
    typealias V = SIMD16<Float>

    /// The constant vectors of `exp`, built once per kernel call rather than per element
    /// (the optimizer does not hoist SIMD broadcasts out of these loops by itself).
    struct ExpConstants {
        let low = V(repeating: -87.3), high = V(repeating: 88.7), magic = V(repeating: 12_582_912)
        let log2e = V(repeating: 1.442_695_04), ln2High = V(repeating: 0.693_359_375), ln2Low = V(repeating: -2.121_944_4e-4)
        let p0 = V(repeating: 1.987_569_1e-4), p1 = V(repeating: 1.398_199_9e-3), p2 = V(repeating: 8.333_452e-3)
        let p3 = V(repeating: 4.166_579_6e-2), p4 = V(repeating: 1.666_666_5e-1), p5 = V(repeating: 5.000_000_1e-1)
        let one = V(repeating: 1)
        let magicBits = SIMD16<Int32>(repeating: 0x4B40_0000), bias = SIMD16<Int32>(repeating: 127)
    }

    @inline(__always)
    static func exp(_ x: V, _ c: ExpConstants) -> V {
        let clamped = x.replacing(with: c.low, where: x .< c.low).replacing(with: c.high, where: x .> c.high)
        // Round x·log2(e) to the nearest integer with the 1.5·2^23 "magic number": after the add,
        // the low mantissa bits of t hold n, and t - magic is n as a float. No int conversion.
        let t = clamped * c.log2e + c.magic
        let n = t - c.magic
        let r = clamped - n * c.ln2High - n * c.ln2Low
        var p = c.p0 * r + c.p1
        p = p * r + c.p2
        p = p * r + c.p3
        p = p * r + c.p4
        p = p * r + c.p5
        p = p * r * r + r + c.one
        // 2^n: n + 127 into the exponent field.
        let k = unsafeBitCast(t, to: SIMD16<Int32>.self) &- c.magicBits
        return p * unsafeBitCast((k &+ c.bias) &<< 23, to: V.self)
    }

    @inline(__always)
    static func exp(_ x: Float) -> Float { exp(V(repeating: x), ExpConstants())[0] }

    /// Applies `f` to every element, 16 at a time (the tail padded with zeros).
    @inline(__always)
    static func apply(_ values: UnsafeMutableBufferPointer<Float>, _ f: (V) -> V) {
        guard let base = values.baseAddress else { return }
        let count = values.count
        var i = 0
        let raw = UnsafeMutableRawPointer(base)
        while i + 16 <= count {
            raw.storeBytes(of: f(raw.loadUnaligned(fromByteOffset: i * 4, as: V.self)), toByteOffset: i * 4, as: V.self)
            i += 16
        }
        if i < count {
            var tail = V(repeating: 0)
            for j in i..<count { tail[j - i] = base[j] }
            let result = f(tail)
            for j in i..<count { base[j] = result[j - i] }
        }
    }

    /// Applies `f` to pairs of elements, 16 at a time, writing into the first buffer.
    @inline(__always)
    static func apply(_ a: UnsafeMutableBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>, _ f: (V, V) -> V) {
        guard let pa = a.baseAddress, let pb = b.baseAddress else { return }
        let count = a.count
        let ra = UnsafeMutableRawPointer(pa), rb = UnsafeRawPointer(pb)
        var i = 0
        while i + 16 <= count {
            ra.storeBytes(
                of: f(ra.loadUnaligned(fromByteOffset: i * 4, as: V.self), rb.loadUnaligned(fromByteOffset: i * 4, as: V.self)),
                toByteOffset: i * 4, as: V.self)
            i += 16
        }
        if i < count {
            var ta = V(repeating: 0), tb = V(repeating: 0)
            for j in i..<count { ta[j - i] = pa[j]; tb[j - i] = pb[j] }
            let result = f(ta, tb)
            for j in i..<count { pa[j] = result[j - i] }
        }
    }
}
