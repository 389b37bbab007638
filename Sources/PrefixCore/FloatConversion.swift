/// Bit-exact conversions between `Float` and the 16- and 8-bit float formats.
///
/// Narrowing rounds to nearest, ties to even, as IEEE 754 and NumPy/PyTorch do: values past
/// the largest finite value become infinity, values below half the smallest subnormal become
/// (signed) zero, and NaN stays a quiet NaN with its sign. Widening is exact.
///
/// These are written on the bit patterns rather than through `Float16` so that they behave the
/// same on every platform and run without a library call per element.
public enum FloatConversion {
    /// IEEE binary16 bits of `value`, rounded to nearest even.
    @inlinable
    public static func halfBits(from value: Float) -> UInt16 {
        let x = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xff)
        var mantissa = x & 0x7f_ffff
        if exponent == 0xff {
            // Infinity keeps its sign; NaN stays NaN (quiet bit set, top payload bits kept).
            if mantissa == 0 { return sign | 0x7c00 }
            return sign | 0x7e00 | UInt16(truncatingIfNeeded: mantissa >> 13)
        }
        let e = exponent - 127 + 15
        if e >= 0x1f { return sign | 0x7c00 }
        if e <= 0 {
            if e < -10 { return sign }
            mantissa |= 0x80_0000
            let shift = UInt32(14 - e)
            let halfway = UInt32(1) << (shift - 1)
            let remainder = mantissa & ((UInt32(1) << shift) - 1)
            var result = mantissa >> shift
            if remainder > halfway || (remainder == halfway && result & 1 == 1) { result += 1 }
            return sign | UInt16(truncatingIfNeeded: result)
        }
        var result = UInt32(e << 10) | (mantissa >> 13)
        let remainder = mantissa & 0x1fff
        // A carry out of the mantissa correctly bumps the exponent, up to infinity (0x7c00).
        if remainder > 0x1000 || (remainder == 0x1000 && result & 1 == 1) { result += 1 }
        return sign | UInt16(truncatingIfNeeded: result)
    }

    /// The `Float` equal to the IEEE binary16 value with bits `bits` (exact).
    @inlinable
    public static func float(fromHalf bits: UInt16) -> Float {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = UInt32((bits >> 10) & 0x1f)
        let mantissa = UInt32(bits & 0x3ff)
        if exponent == 0 {
            // Zero or subnormal: mantissa x 2^-24, exactly representable in Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        if exponent == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
    }

    /// bfloat16 bits of `value`, rounded to nearest even (NaN stays a quiet NaN).
    @inlinable
    public static func bfloat16Bits(from value: Float) -> UInt16 {
        let x = value.bitPattern
        if x & 0x7fff_ffff > 0x7f80_0000 { return UInt16(truncatingIfNeeded: x >> 16) | 0x0040 }
        let rounded = x &+ 0x7fff &+ ((x >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The `Float` equal to the bfloat16 value with bits `bits` (exact).
    @inlinable
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// The `Float` equal to an OCP FP8 E4M3 (`float8_e4m3fn`) byte: bias 7, no infinities,
    /// `S.1111.111` is NaN, largest finite 448.
    @inlinable
    public static func float(fromE4M3 byte: UInt8) -> Float {
        let negative = byte & 0x80 != 0
        let exponent = Int((byte >> 3) & 0xf)
        let mantissa = Float(byte & 0x7)
        let magnitude: Float
        if exponent == 0xf && byte & 0x7 == 0x7 {
            magnitude = .nan
        } else if exponent == 0 {
            magnitude = mantissa * 0x1p-9
        } else {
            magnitude = (1 + mantissa / 8) * Float(sign: .plus, exponent: exponent - 7, significand: 1)
        }
        return negative ? -magnitude : magnitude
    }

    /// The `Float` equal to an OCP FP8 E5M2 (`float8_e5m2`) byte: the top byte of a binary16.
    @inlinable
    public static func float(fromE5M2 byte: UInt8) -> Float {
        float(fromHalf: UInt16(byte) << 8)
    }
}
