public import PrefixCore

/// A tensor to save whose bytes are read only when the save reaches it, and released right
/// after: a base larger than memory saves with a footprint of a few tensors.
public struct LazyTensor: Sendable {
    /// The name.
    public var name: String
    /// The element type.
    public var dtype: DType
    /// The dimensions.
    public var shape: Shape
    /// Reads the bytes.
    public var load: @Sendable () throws -> Tensor
    /// Called once the save no longer needs the bytes (e.g. to drop mapped pages).
    public var release: (@Sendable () -> Void)?

    /// Describes a tensor and how to read it.
    public init(
        name: String, dtype: DType, shape: Shape, load: @escaping @Sendable () throws -> Tensor,
        release: (@Sendable () -> Void)? = nil
    ) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.load = load
        self.release = release
    }

    /// Wraps a tensor already in memory.
    public init(_ named: NamedTensor) {
        let tensor = named.tensor
        // A tensor read in place from a mapped file drops its pages once saved.
        self.init(name: named.name, dtype: tensor.dtype, shape: tensor.shape, load: { tensor }, release: { tensor.releaseFilePages() })
    }

    /// The byte count (0 if it overflows; such shapes are refused before saving).
    var byteCount: Int { (try? shape.byteCount(of: dtype)) ?? 0 }
}

/// A non-weight file of a Hugging Face model directory (tokenizer, generation config, vocab...).
public struct BaseFile: Sendable, Equatable {
    /// The file name (no directories).
    public var name: String
    /// The contents.
    public var bytes: [UInt8]

    /// Creates a file.
    public init(name: String, bytes: [UInt8]) {
        self.name = name
        self.bytes = bytes
    }
}
