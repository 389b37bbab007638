import PrefixCore
import Testing

@Suite("Float conversions")
struct FloatConversionTests {
    @Test("every binary16 value widens exactly (oracle: Swift's Float16)")
    func halfWidening() {
        for bits in UInt16.min...UInt16.max {
            let ours = FloatConversion.float(fromHalf: bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                #expect(ours.isNaN, "bits \(bits)")
                #expect(ours.sign == reference.sign)
            } else {
                #expect(ours.bitPattern == reference.bitPattern, "bits \(String(bits, radix: 16))")
            }
        }
    }

    @Test("binary16 narrowing: ties to even, subnormals, overflow, infinities, NaN", arguments: [
        // (f32 bits, expected f16 bits)
        (Float(1).bitPattern, UInt16(0x3c00)),
        (0x3f80_1000, 0x3c00),            // 1 + 2^-11: tie, rounds to even (down)
        (0x3f80_3000, 0x3c02),            // 1 + 3*2^-11: tie, rounds to even (up)
        (0x3f80_1001, 0x3c01),            // just above the tie: up
        (Float(65504).bitPattern, 0x7bff), // largest finite
        (Float(65519.996).bitPattern, 0x7bff),
        (Float(65520).bitPattern, 0x7c00), // tie at the top rounds to infinity
        (Float(1e10).bitPattern, 0x7c00),
        (Float(-1e10).bitPattern, 0xfc00),
        (Float.infinity.bitPattern, 0x7c00),
        ((-Float.infinity).bitPattern, 0xfc00),
        (0x3380_0000, 0x0001),            // 2^-24: smallest subnormal
        (0x3300_0000, 0x0000),            // 2^-25: tie with zero, rounds to even (zero)
        (0x3300_0001, 0x0001),            // just above: rounds up
        (0x33c0_0000, 0x0002),            // 1.5 * 2^-24: tie, rounds to even (2)
        (0x3880_0000, 0x0400),            // 2^-14: smallest normal
        (0x387f_c000, 0x03ff),            // 1023 x 2^-24 exactly: the largest subnormal
        (0x387f_e000, 0x0400),            // 1023.5 x 2^-24: tie, rounds to even (into the normals)
        (Float(-0.0).bitPattern, 0x8000),
        (0x0000_0001, 0x0000),            // f32 subnormal underflows to zero
        (0x8000_0001, 0x8000),
    ] as [(UInt32, UInt16)])
    func halfNarrowingVectors(input: UInt32, expected: UInt16) {
        #expect(FloatConversion.halfBits(from: Float(bitPattern: input)) == expected)
    }

    @Test("binary16 narrowing of NaN keeps a quiet NaN and its sign")
    func halfNaN() {
        for bits: UInt32 in [0x7fc0_0000, 0x7f80_0001, 0xffc0_0000, 0x7fff_ffff, 0xff80_2000] {
            let half = FloatConversion.halfBits(from: Float(bitPattern: bits))
            #expect(half & 0x7c00 == 0x7c00 && half & 0x03ff != 0, "NaN \(String(bits, radix: 16)) -> \(String(half, radix: 16))")
            #expect(half & 0x0200 != 0, "quiet bit")
            #expect((half & 0x8000 != 0) == (bits & 0x8000_0000 != 0))
        }
    }

    @Test("binary16 narrowing agrees with Swift's Float16 on 2 million random bit patterns")
    func halfNarrowingRandom() {
        var random = SeededRandom(seed: 42)
        var mismatches = 0
        for _ in 0..<2_000_000 {
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: random.next()))
            if value.isNaN { continue }
            if FloatConversion.halfBits(from: value) != Float16(value).bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    @Test("bfloat16 narrowing: ties to even, overflow, subnormals, NaN", arguments: [
        (UInt32(0x3f80_0000), UInt16(0x3f80)),
        (0x3f80_8000, 0x3f80),   // tie, even stays
        (0x3f81_8000, 0x3f82),   // tie, odd rounds up
        (0x3f80_8001, 0x3f81),
        (0x7f7f_ffff, 0x7f80),   // largest f32 rounds to infinity
        (0x7f7f_7fff, 0x7f7f),
        (0x7f80_0000, 0x7f80),
        (0xff80_0000, 0xff80),
        (0x0001_0000, 0x0001),   // subnormal kept
        (0x0000_8000, 0x0000),   // subnormal tie to even (zero)
        (0x0001_8000, 0x0002),
        (0x8000_0000, 0x8000),
    ] as [(UInt32, UInt16)])
    func bfloat16Vectors(input: UInt32, expected: UInt16) {
        #expect(FloatConversion.bfloat16Bits(from: Float(bitPattern: input)) == expected)
    }

    @Test("bfloat16 NaN stays a quiet NaN with its sign; widening is exact")
    func bfloat16NaNAndWidening() {
        for bits: UInt32 in [0x7f80_0001, 0x7fc0_0000, 0xff80_0001] {
            let b = FloatConversion.bfloat16Bits(from: Float(bitPattern: bits))
            #expect(FloatConversion.float(fromBFloat16: b).isNaN)
            #expect((b & 0x8000 != 0) == (bits & 0x8000_0000 != 0))
        }
        for bits in UInt16.min...UInt16.max {
            let widened = FloatConversion.float(fromBFloat16: bits)
            #expect(widened.bitPattern == UInt32(bits) << 16)
        }
    }

    @Test("float8 e4m3fn and e5m2 widen to the values the formats define")
    func float8() {
        #expect(FloatConversion.float(fromE4M3: 0x7e) == 448)
        #expect(FloatConversion.float(fromE4M3: 0xfe) == -448)
        #expect(FloatConversion.float(fromE4M3: 0x7f).isNaN)
        #expect(FloatConversion.float(fromE4M3: 0x01) == 0x1p-9)
        #expect(FloatConversion.float(fromE4M3: 0x38) == 1)
        #expect(FloatConversion.float(fromE4M3: 0x08) == 0x1p-6)
        #expect(FloatConversion.float(fromE5M2: 0x3c) == 1)
        #expect(FloatConversion.float(fromE5M2: 0x7b) == 57344)
        #expect(FloatConversion.float(fromE5M2: 0x7c) == .infinity)
        #expect(FloatConversion.float(fromE5M2: 0x7d).isNaN)
        #expect(FloatConversion.float(fromE5M2: 0x01) == 0x1p-16)
    }
}
