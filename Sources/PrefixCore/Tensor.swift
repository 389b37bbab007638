#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A dense tensor: a dtype, a shape and the bytes of its elements.
///
/// Elements are stored row-major (C order), little-endian, exactly as safetensors, NumPy and
/// HDF5 datasets written by PrefixKit hold them. A `Tensor` is a value: copies share their bytes
/// until one is mutated. Equality is bitwise (dtype, shape and every byte); approximate
/// comparison belongs to the verifier.
///
/// ```swift
/// let t = try Tensor(dtype: .f32, shape: [2, 2], bytes: bytes)
/// let x = Tensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
/// let half = x.converted(to: .f16)
/// ```
///
/// ## Topics
/// ### Creating
/// - ``init(dtype:shape:bytes:)``
/// - ``init(shape:floats:)``
/// - ``init(shape:doubles:)``
/// - ``init(zeros:shape:)``
/// ### Reading elements
/// - ``floats()``
/// - ``doubles()``
/// - ``withUnsafeBytes(_:)``
/// ### Converting
/// - ``converted(to:)``
public struct Tensor: Sendable, Equatable, CustomStringConvertible {
    /// The element type.
    public let dtype: DType
    /// The dimensions.
    public let shape: Shape
    @usableFromInline var storage: TensorStorage

    /// The number of bytes (`shape.elementCount * dtype.byteWidth`).
    public var byteCount: Int { storage.count }

    /// Wraps existing storage after checking that its size matches `shape` and `dtype`.
    ///
    /// - Throws: ``CoreError`` `.byteCountMismatch` or `.sizeOverflow`.
    public init(dtype: DType, shape: Shape, storage: TensorStorage) throws(CoreError) {
        let expected = try shape.byteCount(of: dtype)
        guard storage.count == expected else {
            throw CoreError(
                .byteCountMismatch, "tensor of \(dtype) \(shape) needs \(expected) bytes",
                expected: "\(expected) bytes", actual: "\(storage.count) bytes")
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// Copies `bytes` (little-endian, row-major) into a new tensor.
    ///
    /// - Throws: ``CoreError`` `.byteCountMismatch` when `bytes` is not exactly
    ///   `shape.elementCount * dtype.byteWidth` long, `.sizeOverflow` when that product overflows.
    public init(dtype: DType, shape: Shape, bytes: some Collection<UInt8>) throws(CoreError) {
        let expected = try shape.byteCount(of: dtype)
        guard bytes.count == expected else {
            throw CoreError(
                .byteCountMismatch, "tensor of \(dtype) \(shape) needs \(expected) bytes",
                expected: "\(expected) bytes", actual: "\(bytes.count) bytes")
        }
        let storage = TensorStorage(uninitializedByteCount: expected) { destination in
            destination.copyBytes(from: bytes)
        }
        self.dtype = dtype
        self.shape = shape
        self.storage = storage
    }

    /// A tensor of zeros.
    ///
    /// - Throws: ``CoreError`` `.sizeOverflow` when the byte count overflows.
    public init(zeros dtype: DType, shape: Shape) throws(CoreError) {
        let count = try shape.byteCount(of: dtype)
        self.dtype = dtype
        self.shape = shape
        storage = TensorStorage(zeroedByteCount: count)
    }

    /// An `f32` tensor holding `floats`.
    ///
    /// - Precondition: `floats.count == shape.elementCount`.
    public init(shape: Shape, floats: [Float]) {
        precondition(floats.count == shape.elementCount, "\(floats.count) values for shape \(shape)")
        dtype = .f32
        self.shape = shape
        storage = TensorStorage(uninitializedByteCount: floats.count * 4) { destination in
            floats.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
    }

    /// An `f64` tensor holding `doubles`.
    ///
    /// - Precondition: `doubles.count == shape.elementCount`.
    public init(shape: Shape, doubles: [Double]) {
        precondition(doubles.count == shape.elementCount, "\(doubles.count) values for shape \(shape)")
        dtype = .f64
        self.shape = shape
        storage = TensorStorage(uninitializedByteCount: doubles.count * 8) { destination in
            doubles.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
    }

    /// Drops the resident pages of a tensor read in place from a mapped file once its bytes have
    /// been consumed (written out, hashed): reading it again brings them back from the file. A
    /// no-op for tensors in memory.
    public func releaseFilePages() { storage.releaseFilePages() }

    /// Calls `body` with the tensor's bytes.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(storage.bytes)
    }

    /// Calls `body` with the tensor's bytes for writing, copying them first if they are shared
    /// or borrowed from a mapped file.
    public mutating func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        if !isKnownUniquelyReferenced(&storage) || !storage.isOwned { storage = storage.copy() }
        return try body(UnsafeMutableRawBufferPointer(start: storage.base, count: storage.count))
    }

    /// Bitwise equality: same dtype, same shape, same bytes.
    public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
        guard lhs.dtype == rhs.dtype, lhs.shape == rhs.shape else { return false }
        if lhs.storage === rhs.storage { return true }
        let count = lhs.byteCount
        guard count > 0, let a = lhs.storage.bytes.baseAddress, let b = rhs.storage.bytes.baseAddress else { return true }
        return memcmp(a, b, count) == 0
    }

    /// The dtype and shape, never the values.
    public var description: String { "Tensor(\(dtype), \(shape))" }
}
