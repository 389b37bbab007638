import ArgumentParser
import PrefixKit

/// `prefixkit probe`: manage a checkpoint's stored reference activations.
struct Probe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the reference activations stored with a checkpoint (its probe).",
        subcommands: [Add.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Store reference activations (exchange format .npz) as a checkpoint's probe, replacing any earlier one.")

        @OptionGroup var store: StoreArgument

        @Argument(help: "The checkpoint (NAME or NAME@STEP).")
        var checkpoint: String

        @Argument(help: "The reference activations, in the exchange format (.npz).")
        var file: String

        func run() throws {
            let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
            let info = try opened.checkpoint(checkpoint)
            let config = try opened.base("base:" + info.baseFingerprint).config
            let exchange = try ActivationExchange.read(path: file, bounds: ExchangeBounds(config: config, prefixLength: info.prefixLength))
            guard exchange.inputIDs != nil || exchange.inputsEmbeds != nil, exchange.final != nil else {
                throw FormatError(.missingKey, "a probe needs the inputs (input_ids or inputs_embeds) and 'final'", path: file)
            }
            let tensors = exchange.entries().compactMap { entry in entry.value.tensor.map { NamedTensor(entry.name, $0) } }
            try opened.setProbe(of: info, tensors: tensors, meta: exchange.meta)
            print("stored \(tensors.count) tensors as the probe of \(info.reference) (\(exchange.layerCount) layer(s) of activations)")
        }
    }
}
