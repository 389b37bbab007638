/// A tensor with the name it is stored under (a dotted Hugging Face key such as
/// `h.0.attn.c_attn.weight`, or an exchange-format key such as `layer_00.input`).
public struct NamedTensor: Sendable, Equatable {
    /// The name.
    public var name: String
    /// The tensor.
    public var tensor: Tensor

    /// Pairs a name with a tensor.
    public init(_ name: String, _ tensor: Tensor) {
        self.name = name
        self.tensor = tensor
    }
}

/// The zero-padded layer label used by every PrefixKit format: two digits at least, three when
/// the model has more than 100 layers (`layer_03`, `layer_103`).
public func layerLabel(_ layer: Int, layerCount: Int) -> String {
    let width = layerCount > 100 ? 3 : 2
    let digits = String(layer)
    return "layer_" + String(repeating: "0", count: max(0, width - digits.count)) + digits
}
