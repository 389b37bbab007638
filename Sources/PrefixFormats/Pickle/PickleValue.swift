import Foundation
public import PrefixCore

/// A value the restricted unpickler builds: plain data, containers, and the references to
/// storages and tensors that PyTorch's rebuild functions describe. Nothing else can exist.
public indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int64)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple(PickleTuple)
    case list(PickleList)
    case dict(PickleDict)
    /// An allowed global (`collections.OrderedDict`, a rebuild function, a storage type), not
    /// yet called.
    case global(PickleGlobal)
    /// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`.
    case storage(TorchStorageReference)
    /// A tensor `_rebuild_tensor_v2` / `_rebuild_parameter` describes, not yet read.
    case tensor(TorchTensorReference)

    /// The nesting depth: 0 for a scalar, 1 + the deepest child for a container.
    var depth: Int {
        switch self {
        case .tuple(let tuple): tuple.depth
        case .list(let list): list.depth
        case .dict(let dict): dict.depth
        case .tensor: 1
        default: 0
        }
    }

    /// The string, if this is one.
    public var string: String? { if case .string(let s) = self { s } else { nil } }
}

/// A tuple, immutable; its depth is computed once, when it is built.
public final class PickleTuple: Sendable {
    /// The tuple's values.
    public let items: [PickleValue]
    let depth: Int

    init(_ items: [PickleValue]) {
        self.items = items
        depth = items.reduce(1) { max($0, $1.depth + 1) }
    }
}

/// A list, shared by reference as pickle's memo shares it. It may only grow while it is not
/// inside another container, so that recorded depths stay exact and no cycle can form.
public final class PickleList: @unchecked Sendable {
    // Safety: mutated only by the single-threaded unpickler that created it, then read-only.
    /// The list's values.
    public internal(set) var items: [PickleValue] = []
    var depth = 1
    var sealed = false
}

/// A dictionary in insertion order (an `OrderedDict` or a plain `dict`), shared by reference.
public final class PickleDict: @unchecked Sendable {
    // Safety: as ``PickleList``.
    /// The entries, in insertion order.
    public internal(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    var depth = 1
    var sealed = false

    /// The value under string key `key`.
    public subscript(key: String) -> PickleValue? { entries.first { $0.key.string == key }?.value }
}

/// The globals the unpickler admits, after PyTorch's own weights-only unpickler.
public enum PickleGlobal: Sendable, Equatable {
    case orderedDict
    case rebuildTensorV2, rebuildTensor, rebuildParameter
    case storageType(DType)

    /// `torch.XStorage` -> its element dtype.
    static let storageTypes: [String: DType] = [
        "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16, "LongStorage": .i64,
        "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8, "ByteStorage": .u8, "BoolStorage": .bool,
    ]

    /// The allowed global `module.name`, or nil.
    static func named(module: String, name: String) -> PickleGlobal? {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor"): return .rebuildTensor
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch", _): return storageTypes[name].map { .storageType($0) }
        default: return nil
        }
    }
}

/// A storage a persistent id names: the archive member `data/<key>` holding `count` elements.
public struct TorchStorageReference: Sendable, Equatable {
    /// The member name under `data/`.
    public var key: String
    /// The element type its storage class names.
    public var dtype: DType
    /// Its element count.
    public var count: Int
}

/// A tensor as the pickle describes it: a view of a storage.
public struct TorchTensorReference: Sendable, Equatable {
    /// The storage it views.
    public var storage: TorchStorageReference
    /// Its first element's index in the storage.
    public var offset: Int
    /// Its size and strides (in elements).
    public var shape: [Int], strides: [Int]
}
