import PrefixCompute
import PrefixCore

/// What a reference may have computed for one layer instead of prefix-tuning's composition,
/// written as a change to the step's inputs: the prefix the block reads, and how the step is
/// composed (positions, causal mask alignment, rows kept). The engine runs the step as asked;
/// only the verifier knows these are mistakes, and which bug each one is.
enum StepHypothesis: Sendable, CaseIterable {
    /// Prefix-tuning's composition with the prefix as given.
    case asGiven
    /// The first `N` of the `Pn + N` output rows kept instead of the last `N`.
    case keptFirstN
    /// The prefix's keys and values exchanged.
    case keyValueSwapped
    /// The prefix keys not rotated (RoPE models).
    case unrotatedKeys
    /// The inputs at positions `0 ..< N` instead of the checkpoint's convention.
    case inputsAtZero
    /// The causal mask aligned top-left over the `Pn + N` keys instead of after the prefix.
    case causalTopLeft

    /// The prefix and composition the step runs with under this hypothesis, computing in `T`
    /// (the precision keys and values are projected and rotated in).
    ///
    /// - Throws: ``PrefixCompute/ComputeError`` from projecting a hidden prefix.
    func step<T: ComputeScalar>(
        _ prefix: LayerPrefix?, layer: Int, context: LayerContext?, stack: PrefixStack, as type: T.Type
    ) throws(ComputeError) -> (prefix: LayerPrefix?, composition: LayerComposition) {
        switch self {
        case .asGiven: return (prefix, .prefixTuning)
        case .keptFirstN: return (prefix, LayerComposition(keptRows: .first))
        case .inputsAtZero: return (prefix, LayerComposition(inputStart: 0))
        case .causalTopLeft: return (prefix, LayerComposition(causalAlignment: .topLeft))
        case .keyValueSwapped:
            guard let prefix else { return (nil, .prefixTuning) }
            let (key, value) = try stack.prefixKeysValues(prefix, layer: layer, context: context, as: type)
            return (.kv(key: value, value: key), .prefixTuning)
        case .unrotatedKeys:
            guard let prefix else { return (nil, .prefixTuning) }
            let (key, value) = try stack.prefixKeysValues(prefix, layer: layer, context: context, as: type)
            return (.kv(key: stack.unrotatedPrefixKeys(key, context: context, as: type), value: value), .prefixTuning)
        }
    }
}
