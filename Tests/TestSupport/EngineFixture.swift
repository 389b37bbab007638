public import PrefixCompute
public import PrefixCore
import PrefixFormats

/// One case of `fixtures/engine/` (made by fixtures/generate.py with the NumPy reference).
public struct EngineFixture: Sendable {
    /// The model's directory name (`gpt2-tiny` ...).
    public let model: String
    /// `Pn` and `N` of the case.
    public let prefixLength: Int
    /// `N`, the input rows.
    public let inputLength: Int
    /// The model's config.
    public let config: ModelConfig
    /// Its weights under their HF names.
    public let weights: [NamedTensor]
    /// The case's prefix in hidden form, and its key/value conversion.
    public let hidden: CheckpointContent
    /// The key/value form of the same prefix.
    public let kv: CheckpointContent
    /// The NumPy reference's activations for the hidden and the key/value form.
    public let expectedHidden: [String: Tensor]
    /// The key/value form's activations.
    public let expectedKV: [String: Tensor]

    /// Every model and case the generator writes.
    public static let models = ["gpt2-tiny", "llama-gqa-tiny", "qwen2-tiny"]
    /// Every `(Pn, N)` case the generator writes.
    public static let cases = [(20, 128), (4, 4), (1, 1)]

    /// `fixtures/engine/`.
    public static var root: String { Processes.repositoryRoot + "/fixtures/engine" }

    /// Reads case `(prefixLength, inputLength)` of `model`.
    public init(_ model: String, prefixLength: Int, inputLength: Int) throws {
        self.model = model
        self.prefixLength = prefixLength
        self.inputLength = inputLength
        let dir = "\(EngineFixture.root)/\(model)"
        config = try HFConfig.read(path: dir + "/config.json").config
        weights = try NPZ.read(path: dir + "/weights.npz").compactMap { item in item.value.tensor.map { NamedTensor(item.name, $0) } }
        let caseDir = "\(dir)/pn\(prefixLength)-n\(inputLength)"
        let tensors = { (file: String) throws -> [String: Tensor] in
            Dictionary(
                uniqueKeysWithValues: try NPZ.read(path: "\(caseDir)/\(file)").compactMap { item in
                    item.value.tensor.map { (item.name, $0) }
                })
        }
        let hiddenPrefix = try tensors("prefix_hidden.npz")
        let kvPrefix = try tensors("prefix_kv.npz")
        let layers = config.numLayers
        hidden = CheckpointContent(
            form: .hidden, prefixLength: prefixLength,
            layers: try (0..<layers).map { l in
                .hidden(try EngineFixture.require(hiddenPrefix, "prefix.\(layerLabel(l, layerCount: layers))"))
            })
        kv = CheckpointContent(
            form: .kv, prefixLength: prefixLength,
            layers: try (0..<layers).map { l in
                let label = layerLabel(l, layerCount: layers)
                return .kv(
                    key: try EngineFixture.require(kvPrefix, "prefix.\(label).key"),
                    value: try EngineFixture.require(kvPrefix, "prefix.\(label).value"))
            })
        expectedHidden = try tensors("expected_hidden.npz")
        expectedKV = try tensors("expected_kv.npz")
    }

    static func require(_ tensors: [String: Tensor], _ key: String) throws -> Tensor {
        guard let tensor = tensors[key] else { throw FixtureError(description: "fixture lacks \(key)") }
        return tensor
    }

    /// The forward input of the case (ids and mask).
    public func input() throws -> ForwardInput {
        try ForwardInput(ids: EngineFixture.require(expectedHidden, "input_ids"), mask: expectedHidden["attention_mask"])
    }

    /// The case's attention mask, `B x N`.
    public var mask: [[Bool]] { (try? input().mask) ?? [] }
}

/// A fixture that lacks what a test needs.
public struct FixtureError: Error, CustomStringConvertible {
    /// What is missing.
    public var description: String
}

/// semantics.md's metric: `max|A - R| / max(max|R|, 1e-30)` over the compared rows.
public enum Closeness {
    /// Compares `[B, R, d]` tensors; row `r` of batch `b` is compared when `include(b, r)`.
    /// A NaN or infinity on either side makes the error infinite: such a result never passes.
    public static func relativeError(_ actual: Tensor, _ reference: Tensor, include: (Int, Int) -> Bool = { _, _ in true }) -> Double {
        guard actual.shape == reference.shape, actual.shape.rank == 3 else { return .infinity }
        let (batch, rows, width) = (actual.shape[0], actual.shape[1], actual.shape[2])
        let a = actual.doubles(), r = reference.doubles()
        var worst = 0.0, scale = 0.0
        for b in 0..<batch {
            for row in 0..<rows where include(b, row) {
                for c in 0..<width {
                    let i = (b * rows + row) * width + c
                    guard a[i].isFinite, r[i].isFinite else { return .infinity }
                    worst = max(worst, abs(a[i] - r[i]))
                    scale = max(scale, abs(r[i]))
                }
            }
        }
        return worst / max(scale, 1e-30)
    }
}
