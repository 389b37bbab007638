public import PrefixCore

/// What a tensor is, without its bytes.
public struct TensorInfo: Sendable, Hashable {
    /// The element type.
    public var dtype: DType
    /// The dimensions.
    public var shape: [Int]

    /// Creates a description.
    public init(dtype: DType, shape: [Int]) {
        self.dtype = dtype
        self.shape = shape
    }
}

/// Named tensors the engine reads lazily, one layer at a time (a store's base, a file, memory).
public protocol TensorSource: Sendable {
    /// Every tensor's name, dtype and shape, without reading any bytes.
    func tensorInfos() throws -> [String: TensorInfo]
    /// One tensor's bytes.
    func load(_ name: String) throws -> Tensor
    /// A table of which only a few rows will be read (an embedding lookup): sources that map
    /// files can skip reading the rest. Defaults to ``load(_:)``.
    func loadSparse(_ name: String) throws -> Tensor
}

extension TensorSource {
    public func loadSparse(_ name: String) throws -> Tensor { try load(name) }
}

/// Tensors held in memory.
public struct InMemoryTensors: TensorSource {
    private let tensors: [String: Tensor]

    /// Wraps named tensors (later duplicates win).
    public init(_ tensors: [NamedTensor]) {
        self.tensors = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { _, last in last })
    }

    public func tensorInfos() throws -> [String: TensorInfo] {
        tensors.mapValues { TensorInfo(dtype: $0.dtype, shape: $0.shape.dimensions) }
    }

    public func load(_ name: String) throws -> Tensor {
        guard let tensor = tensors[name] else { throw ComputeError(.missingWeight, "no tensor by this name", tensor: name) }
        return tensor
    }
}
