import PrefixCompute
import PrefixCore

/// What the verifier knows about one block when it looks for the bug behind a failed check.
struct LayerSituation {
    /// The block's index in its stack.
    let layer: Int
    /// The stack the block belongs to.
    let stack: CheckedStack
    /// The prefix the checkpoint gives the block (`nil`: unprefixed).
    let prefix: LayerPrefix?
    /// What the block's cross-attention reads (`nil`: it has none).
    let context: LayerContext?
    /// Whether the model rotates its keys (RoPE).
    let rotatesKeys: Bool
    /// Where a decoder block's prefix is stored.
    let layout: PrefixLayout

    /// Whether the block is prefixed and each block's prefix is its own layer's, with no other
    /// layer mapping to confuse it with (every stack but an encoder-decoder's decoder).
    var ownLayers: Bool { prefix != nil && stack.section != .decoder }
}

/// Which prefix a hypothesis feeds the block.
enum PrefixChoice: Sendable {
    /// The block's own, as the checkpoint gives it.
    case own
    /// None.
    case none
    /// The same stack's block `layer + offset`.
    case neighbour(Int)
    /// The previous block's prefix-row outputs `Y^{l-1}[0 ..< Pn]`.
    case carried
    /// The stored layer the other encoder-decoder layout maps the block to.
    case otherLayout
}

/// One wrong composition a reference may have computed for a block, as a value: the bug it is,
/// the blocks it applies to, the prefix the block reads under it, and how the step is composed.
/// Adding a bug class the per-layer check can name is adding one entry to ``all``.
struct LayerHypothesis: Sendable {
    /// The bug a fit names.
    let bug: BugClass
    /// The prefix the block reads.
    var prefix: PrefixChoice = .own
    /// The change to the step's composition.
    var step: StepHypothesis = .asGiven
    /// Whether the block's cross-attention prefix is dropped.
    var dropsCrossPrefix = false
    /// Whether the hypothesis applies to the block at all.
    let applies: @Sendable (LayerSituation) -> Bool

    /// Every hypothesis the per-layer check tries, in the order fits are reported.
    static let all: [LayerHypothesis] = [
        LayerHypothesis(bug: .keptFirstN, step: .keptFirstN) { $0.prefix?.form == .hidden },
        LayerHypothesis(bug: .encoderPrefixMissing, prefix: .none) { $0.prefix != nil && $0.stack.section == .encoder },
        LayerHypothesis(bug: .prefixIgnored, prefix: .none) {
            $0.prefix != nil && $0.stack.bidirectional && $0.stack.section != .encoder
        },
        LayerHypothesis(bug: .prefixAppendedOrIgnored, prefix: .none) { $0.prefix != nil && !$0.stack.bidirectional },
        // Appending the prefix leaves the inputs at positions 0 ..< N.
        LayerHypothesis(bug: .prefixAppendedOrIgnored, prefix: .none, step: .inputsAtZero) {
            $0.prefix != nil && !$0.stack.bidirectional
        },
        // In an encoder-decoder's decoder a neighbour's prefix is what the other layer mapping
        // feeds some blocks (PEFT's block 1 reads stored layer 2): the mapping hypotheses below
        // name those, so the neighbours are tried where prefixes come from their own layers.
        LayerHypothesis(bug: .reusedPreviousPrefix, prefix: .neighbour(-1)) { $0.layer > 0 && $0.ownLayers },
        LayerHypothesis(bug: .layerOffByOne, prefix: .neighbour(1)) { $0.layer + 1 < $0.stack.layerCount && $0.ownLayers },
        LayerHypothesis(bug: .prefixOutputsCarried, prefix: .carried) { $0.layer > 0 && $0.ownLayers },
        LayerHypothesis(bug: .keyValueSwapped, step: .keyValueSwapped) { $0.prefix != nil },
        LayerHypothesis(bug: .causalMaskNotOffset, step: .causalTopLeft) { $0.prefix != nil && !$0.stack.bidirectional },
        LayerHypothesis(bug: .unrotatedKeys, step: .unrotatedKeys) { $0.prefix != nil && $0.rotatesKeys },
        LayerHypothesis(bug: .inputsAtWrongPosition, step: .inputsAtZero) { $0.rotatesKeys },
        LayerHypothesis(bug: .directLayerMapping, prefix: .otherLayout) { $0.stack.section == .decoder && $0.layout == .peftSeq2Seq },
        LayerHypothesis(bug: .peftLayerMapping, prefix: .otherLayout) { $0.stack.section == .decoder && $0.layout == .direct },
        LayerHypothesis(bug: .crossPrefixDropped, dropsCrossPrefix: true) { $0.context?.crossPrefix != nil },
    ]
}

/// What a reference's prefix rows (a hidden prefix's first `Pn` input rows) may hold instead of
/// `P^l`: the bug each is, and when it applies.
struct PrefixRowsHypothesis: Sendable {
    /// The bug a fit names.
    let bug: BugClass
    /// The rows compared.
    let prefix: PrefixChoice
    /// Whether it applies to the block.
    let applies: @Sendable (LayerSituation) -> Bool

    /// Every hypothesis the prefix-row check tries.
    static let all: [PrefixRowsHypothesis] = [
        PrefixRowsHypothesis(bug: .reusedPreviousPrefix, prefix: .neighbour(-1)) { $0.layer > 0 && $0.ownLayers },
        PrefixRowsHypothesis(bug: .layerOffByOne, prefix: .neighbour(1)) { $0.layer + 1 < $0.stack.layerCount && $0.ownLayers },
        PrefixRowsHypothesis(bug: .prefixOutputsCarried, prefix: .carried) { $0.layer > 0 && $0.ownLayers },
    ]
}
