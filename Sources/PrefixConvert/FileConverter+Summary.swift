public import PrefixCore
import PrefixFormats
import PrefixStore

/// What a PEFT adapter or prefix file holds, read and checked without a store or a base: the
/// structural check `prefixkit inspect PATH` (and the pre-commit hook) runs.
public struct PrefixFileSummary: Sendable, Codable {
    /// The file or directory read.
    public var source: String
    /// `peft` (an adapter directory), `npz` or `safetensors`.
    public var format: String
    /// `hidden` or `kv`.
    public var form: PrefixForm
    /// `Pn`.
    public var prefixLength: Int
    /// The (decoder) layers, and an encoder-decoder's encoder and cross-attention sections.
    public var layers: Int, encoderLayers: Int, crossLayers: Int
    /// The element type of the prefix tensors.
    public var dtype: DType
    /// The shape of one layer's prefix tensor (`[Pn, d]` or `[H, Pn, hd]`).
    public var layerShape: [Int]
    /// The task the adapter was trained for, if it says.
    public var task: String?
    /// `direct` or `peft-seq2seq`.
    public var layout: String
    /// What the adapter says its base is (`base_model_name_or_path`), if anything.
    public var baseModelNameOrPath: String?
    /// The base a PrefixKit export was made from (`base_fingerprint` metadata), if recorded.
    public var baseFingerprint: String?
    /// Task head and MLP tensors kept with the prefix.
    public var headTensors: Int, mlpTensors: Int
}

extension FileConverter {
    /// Reads and checks a PEFT adapter or a prefix file as a conversion would (every tensor read,
    /// shapes against the adapter config or the file's own names), and says what it holds.
    ///
    /// - Throws: what reading the source throws: ``PrefixFormats/FormatError`` naming the file and
    ///   the field or tensor, ``PrefixStore/StorageError`` `.invalidArgument` for another kind of source.
    public static func summary(of source: String) throws -> PrefixFileSummary {
        let loaded = try load(Store.normalizePath(source))
        let content = loaded.content
        let first = content.layers.first?.parts.first?.tensor
        let format = source.hasSuffix(".npz") ? "npz" : source.hasSuffix(".safetensors") ? "safetensors" : "peft"
        let config = loaded.peftConfig.flatMap { try? PEFTAdapter.parseConfig(Array($0.utf8), path: source) }
        return PrefixFileSummary(
            source: source, format: format, form: content.form, prefixLength: content.prefixLength, layers: content.layers.count,
            encoderLayers: content.encoderLayers.count, crossLayers: content.crossLayers.count, dtype: first?.dtype ?? .f32,
            layerShape: first?.shape.dimensions ?? [], task: content.task?.rawValue, layout: content.layout.rawValue,
            baseModelNameOrPath: config?.baseModelNameOrPath, baseFingerprint: loaded.baseFingerprint, headTensors: content.head.count,
            mlpTensors: content.mlp.count)
    }
}
