import PrefixCore
import Testing

@Suite("Shapes and tensors")
struct TensorTests {
    @Test("shapes refuse negative dimensions and overflowing element counts")
    func shapeValidation() throws {
        #expect(throws: CoreError.self) { try Shape([2, -1]) }
        let overflow = #expect(throws: CoreError.self) { try Shape([Int.max / 2, 3]) }
        #expect(overflow?.code == .sizeOverflow)
        let big = try Shape([Int.max / 4])
        let bytes = #expect(throws: CoreError.self) { try big.byteCount(of: .f64) }
        #expect(bytes?.code == .sizeOverflow)
        #expect(try Shape([]).elementCount == 1)
        #expect(try Shape([3, 0, 5]).elementCount == 0)
    }

    @Test("a tensor needs exactly shape x dtype bytes")
    func byteCountChecked() throws {
        let error = #expect(throws: CoreError.self) { try Tensor(dtype: .f32, shape: [2, 2], bytes: [UInt8](repeating: 0, count: 15)) }
        #expect(error?.code == .byteCountMismatch)
        let scalar = try Tensor(dtype: .f64, shape: [], bytes: [UInt8](repeating: 0, count: 8))
        #expect(scalar.byteCount == 8)
        let empty = try Tensor(dtype: .bf16, shape: [0, 4], bytes: [UInt8]())
        #expect(empty.byteCount == 0)
    }

    @Test("copies share bytes until one is written (copy-on-write)")
    func copyOnWrite() {
        let a = Tensor(shape: [3], floats: [1, 2, 3])
        var b = a
        b.withUnsafeMutableBytes { $0.storeBytes(of: Float(9), toByteOffset: 0, as: Float.self) }
        #expect(a.floats() == [1, 2, 3])
        #expect(b.floats() == [9, 2, 3])
    }

    @Test("equality is bitwise: -0 differs from +0, identical NaNs are equal")
    func bitwiseEquality() {
        #expect(Tensor(shape: [1], floats: [0]) != Tensor(shape: [1], floats: [-0.0]))
        #expect(Tensor(shape: [1], floats: [.nan]) == Tensor(shape: [1], floats: [.nan]))
        #expect(Tensor(shape: [2], floats: [1, 2]) != Tensor(shape: [1, 2], floats: [1, 2]))
        #expect(Tensor(shape: [1], floats: [1]) != Tensor(shape: [1], doubles: [1]))
    }

    @Test("narrowing to f16/bf16 and widening back is exact for representable values", arguments: [DType.f16, .bf16])
    func narrowingRoundTrip(dtype: DType) {
        let values: [Float] = [0, 1, -2, 0.5, 3.75, -0.125, 256]
        let narrowed = Tensor(shape: [7], floats: values).converted(to: dtype)
        #expect(narrowed.dtype == dtype && narrowed.byteCount == 14)
        #expect(narrowed.floats() == values)
        #expect(narrowed.converted(to: .f64).doubles() == values.map(Double.init))
    }

    @Test("integer elements convert by value")
    func integers() throws {
        let t = try Tensor(dtype: .i16, shape: [2], bytes: [0xff, 0xff, 0x02, 0x00])
        #expect(t.floats() == [-1, 2])
        let e4m3 = try Tensor(dtype: .f8e4m3, shape: [2], bytes: [0x38, 0x7e])
        #expect(e4m3.floats() == [1, 448])
    }

    @Test("dtype names parse, unknown ones throw")
    func dtypeParsing() throws {
        #expect(try DType(parsing: "bf16") == .bf16)
        let error = #expect(throws: CoreError.self) { try DType(parsing: "complex64") }
        #expect(error?.code == .unknownDType)
        #expect(DType.allCases.count == 15)
    }
}
