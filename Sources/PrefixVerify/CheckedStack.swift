import PrefixCompute
import PrefixCore
import PrefixFormats

/// One stack of blocks as the verifier checks it: the reference's rows around each block, the
/// prefix and cross-attention context each block reads, and how reports name it. A decoder-only
/// model is one stack; an encoder-decoder is its encoder's, then its decoder's.
struct CheckedStack: Sendable {
    /// The section reports name (`nil` for a decoder-only model's one stack).
    let section: PrefixSection?
    /// The blocks in the stack.
    let layerCount: Int
    /// `B x N`: true for the real rows.
    let mask: [[Bool]]
    /// Whether the stack's blocks attend in both directions.
    let bidirectional: Bool
    /// The form the reference's rows take (`nil`: each block's own prefix form).
    let referenceForm: PrefixForm?
    /// The reference's rows into and out of block `l`.
    let input: @Sendable (Int) -> Tensor?
    let output: @Sendable (Int) -> Tensor?
    /// The prefix block `l` reads (`nil`: the block is unprefixed).
    let prefix: @Sendable (Int) throws -> LayerPrefix?
    /// What block `l`'s cross-attention reads, or why the block cannot be checked.
    let context: @Sendable (Int) -> Result<LayerContext?, Unavailable>
    /// The reference keys block `l`'s check reads.
    let keys: @Sendable (Int) -> (input: String, output: String)
    /// What a passing check of block `l` composed, given its prefix, context and rows in.
    let describe: @Sendable (Int, LayerPrefix?, LayerContext?, Int) -> String

    /// Why a block or a model cannot be checked against the reference.
    struct Unavailable: Error, Sendable {
        let message: String
    }

    /// The rows each block keeps: `N`, the mask's width.
    var rows: Int { mask.first?.count ?? 0 }

    /// How reports name block `l`.
    func label(_ l: Int) -> String { section.map { "\($0) layer \(l)" } ?? "layer \(l)" }

    /// The reference keys block `l` lacks.
    func missingKeys(_ l: Int) -> [String] {
        let (inputKey, outputKey) = keys(l)
        return [input(l) == nil ? inputKey : nil, output(l) == nil ? outputKey : nil].compactMap { $0 }
    }

    /// The bug a prefix missing from block `l`'s rows is: in a causal stack ignoring and
    /// appending the prefix compute the same; an encoder-decoder's encoder without its prefix is
    /// how PEFT runs one.
    var ignoredBug: BugClass {
        section == .encoder ? .encoderPrefixMissing : bidirectional ? .prefixIgnored : .prefixAppendedOrIgnored
    }
}

extension CompositionCheck {
    /// The stacks the reference is checked against, in order, with `input` given the decoder's
    /// ids when the model is an encoder-decoder.
    func checkedStacks(_ input: inout ForwardInput) -> Result<[CheckedStack], CheckedStack.Unavailable> {
        let config = stack.config
        let n = input.length
        guard stack.isEncoderDecoder else {
            guard reference.layerCount <= config.numLayers else {
                return .failure(.init(message: "the reference has \(reference.layerCount) layers, the checkpoint \(config.numLayers)"))
            }
            let form = referenceForm
            let layers = config.numLayers
            return .success([
                CheckedStack(
                    section: nil, layerCount: layers, mask: input.mask, bidirectional: stack.isBidirectional, referenceForm: form,
                    input: { reference.layerInputs[$0] }, output: { reference.layerOutputs[$0] },
                    prefix: { try stack.prefix.layer($0) }, context: { _ in .success(nil) },
                    keys: { (ActivationExchange.inputKey($0, layerCount: layers), ActivationExchange.outputKey($0, layerCount: layers)) },
                    describe: { _, _, _, rows in "\(rows) rows in -> \(form == .hidden ? "\(rows) out -> kept last \(n)" : "\(n) out")" })
            ])
        }
        let missing = CheckedStack.Unavailable(
            message:
                "the reference has no decoder_input_ids [\(input.batch), T]: an encoder-decoder's decoder runs on its own ids, which the reference must name"
        )
        guard let decoderIDs = reference.decoderInputIDs, decoderIDs.shape.rank == 2, decoderIDs.shape[0] == input.batch else {
            return .failure(missing)
        }
        do { try input.setDecoderIDs(decoderIDs) } catch {
            return .failure(.init(message: "the reference's decoder_input_ids are not decoder ids: \(error)"))
        }
        if reference.encoderLayerCount > stack.encoderLayers || reference.layerCount > config.numLayers {
            return .failure(
                .init(
                    message:
                        "the reference has \(reference.encoderLayerCount) encoder and \(reference.layerCount) decoder layers, the model \(stack.encoderLayers) and \(config.numLayers)"
                ))
        }
        let t = decoderIDs.shape[1]
        let encoderMask = input.mask
        let (encoderLayers, decoderLayers) = (stack.encoderLayers, config.numLayers)
        let pn = stack.prefix.prefixLength
        let encoder = CheckedStack(
            section: .encoder, layerCount: encoderLayers, mask: encoderMask, bidirectional: true, referenceForm: nil,
            input: { reference.encoderLayerInputs[$0] }, output: { reference.encoderLayerOutputs[$0] },
            prefix: { l in try stack.prefix.encoderLayer.map { load in try load(l) } }, context: { _ in .success(.encoder) },
            keys: {
                (
                    ActivationExchange.inputKey($0, layerCount: encoderLayers, section: "encoder"),
                    ActivationExchange.outputKey($0, layerCount: encoderLayers, section: "encoder")
                )
            },
            describe: { _, prefix, _, _ in
                prefix == nil ? "no prefix (the encoder is unprefixed)" : "Pn = \(pn) prefix keys/values of the encoder section"
            })
        let stored = storedCount
        let layout = stack.prefix.layout
        let decoder = CheckedStack(
            section: .decoder, layerCount: decoderLayers, mask: Array(repeating: Array(repeating: true, count: t), count: input.batch),
            bidirectional: false, referenceForm: nil,
            input: { reference.layerInputs[$0] }, output: { reference.layerOutputs[$0] },
            prefix: { l in try stack.prefix.layer(layout.storedLayer(forBlock: l, stored: stored)) },
            context: { l in
                guard let encoded = reference.encoderFinal else {
                    return .failure(.init(message: "not checked: the reference has no encoder.final for its cross-attention"))
                }
                do {
                    let cross = try stack.prefix.crossLayer.map { load in try load(l) }
                    return .success(.decoder(encoderStates: encoded, encoderMask: encoderMask, crossPrefix: cross))
                } catch {
                    return .failure(.init(message: "not checked: cannot read its cross-attention prefix: \(error)"))
                }
            },
            keys: {
                (
                    ActivationExchange.inputKey($0, layerCount: decoderLayers, section: "decoder"),
                    ActivationExchange.outputKey($0, layerCount: decoderLayers, section: "decoder")
                )
            },
            describe: { l, _, context, _ in
                let index = layout.storedLayer(forBlock: l, stored: stored)
                let source = layout == .peftSeq2Seq ? "stored layer \(index) (PEFT: 2i mod \(stored))" : "its own layer"
                let cross = context?.crossPrefix == nil ? "encoder output" : "Pn cross prefix + encoder output"
                return "self-attention prefix from \(source), cross-attention over the reference's \(cross)"
            })
        return .success([encoder, decoder])
    }

    /// The stored layers: `L` of PEFT's encoder-decoder layout, else the decoder's blocks.
    var storedCount: Int { stack.prefix.storedLayers ?? stack.config.numLayers }
}
