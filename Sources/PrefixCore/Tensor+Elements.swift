extension Tensor {
    /// The elements widened (or converted) to `Float`.
    ///
    /// Floating-point types widen exactly, except `f64`, which rounds to nearest. Integer and
    /// `bool` elements convert by value.
    ///
    /// - Complexity: O(n), one pass over the bytes.
    public func floats() -> [Float] {
        let n = shape.elementCount
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            withUnsafeBytes { raw in Tensor.widen(raw, dtype, count: n, into: out) }
            initialized = n
        }
    }

    /// The elements widened to `Double` (exact for every float dtype).
    ///
    /// - Complexity: O(n), one pass over the bytes.
    public func doubles() -> [Double] {
        let n = shape.elementCount
        if dtype == .f64 {
            return [Double](unsafeUninitializedCapacity: n) { out, initialized in
                withUnsafeBytes { raw in
                    for i in 0..<n { out[i] = raw.loadUnaligned(fromByteOffset: i * 8, as: Double.self) }
                }
                initialized = n
            }
        }
        return floats().map(Double.init)
    }

    /// This tensor's values in another floating-point dtype.
    ///
    /// Narrowing rounds to nearest even (see ``FloatConversion``); widening is exact.
    /// Converting to the same dtype returns `self` and shares its bytes.
    ///
    /// - Precondition: `target` is `f64`, `f32`, `f16` or `bf16`, and `dtype` is a float type.
    public func converted(to target: DType) -> Tensor {
        if target == dtype { return self }
        precondition(dtype.isFloatingPoint, "cannot convert \(dtype) to \(target)")
        let n = shape.elementCount
        if target == .f64 {
            return Tensor(shape: shape, doubles: doubles())
        }
        let values: [Float] = dtype == .f64 ? doubles().map { Float($0) } : floats()
        let storage: TensorStorage
        switch target {
        case .f32:
            return Tensor(shape: shape, floats: values)
        case .f16:
            storage = TensorStorage(uninitializedByteCount: n * 2) { out in
                let words = out.bindMemory(to: UInt16.self)
                for i in 0..<n { words[i] = FloatConversion.halfBits(from: values[i]).littleEndian }
            }
        case .bf16:
            storage = TensorStorage(uninitializedByteCount: n * 2) { out in
                let words = out.bindMemory(to: UInt16.self)
                for i in 0..<n { words[i] = FloatConversion.bfloat16Bits(from: values[i]).littleEndian }
            }
        default:
            preconditionFailure("conversion to \(target) is not supported")
        }
        do {
            return try Tensor(dtype: target, shape: shape, storage: storage)
        } catch {
            preconditionFailure("internal size error: \(error)")
        }
    }

    @usableFromInline
    static func widen(_ raw: UnsafeRawBufferPointer, _ dtype: DType, count n: Int,
                      into out: UnsafeMutableBufferPointer<Float>) {
        func load<T>(_ type: T.Type, _ i: Int) -> T { raw.loadUnaligned(fromByteOffset: i * MemoryLayout<T>.size, as: T.self) }
        switch dtype {
        case .f32: for i in 0..<n { out[i] = load(Float.self, i) }
        case .f64: for i in 0..<n { out[i] = Float(load(Double.self, i)) }
        case .f16: for i in 0..<n { out[i] = FloatConversion.float(fromHalf: UInt16(littleEndian: load(UInt16.self, i))) }
        case .bf16: for i in 0..<n { out[i] = FloatConversion.float(fromBFloat16: UInt16(littleEndian: load(UInt16.self, i))) }
        case .f8e4m3: for i in 0..<n { out[i] = FloatConversion.float(fromE4M3: raw[i]) }
        case .f8e5m2: for i in 0..<n { out[i] = FloatConversion.float(fromE5M2: raw[i]) }
        case .i8: for i in 0..<n { out[i] = Float(Int8(bitPattern: raw[i])) }
        case .u8, .bool: for i in 0..<n { out[i] = Float(raw[i]) }
        case .i16: for i in 0..<n { out[i] = Float(Int16(littleEndian: load(Int16.self, i))) }
        case .u16: for i in 0..<n { out[i] = Float(UInt16(littleEndian: load(UInt16.self, i))) }
        case .i32: for i in 0..<n { out[i] = Float(Int32(littleEndian: load(Int32.self, i))) }
        case .u32: for i in 0..<n { out[i] = Float(UInt32(littleEndian: load(UInt32.self, i))) }
        case .i64: for i in 0..<n { out[i] = Float(Int64(littleEndian: load(Int64.self, i))) }
        case .u64: for i in 0..<n { out[i] = Float(UInt64(littleEndian: load(UInt64.self, i))) }
        }
    }
}
