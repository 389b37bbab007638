import ArgumentParser
import PrefixKit

/// `prefixkit kv`: convert a hidden-form checkpoint to key/value form.
struct KeyValue: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kv",
        abstract: "Convert a hidden-form checkpoint to key/value form exactly, saved as a new checkpoint.",
        discussion: """
            K^l = RoPE(norm(P^l) W_k + b_k) at positions 0..<Pn, V^l = norm(P^l) W_v + b_v, computed in f64 and rounded \
            once. The reverse (key/value to hidden) is refused: it is not invertible in general.
            """)

    @OptionGroup var store: StoreArgument

    @Argument(help: "The hidden-form checkpoint (NAME or NAME@STEP).")
    var checkpoint: String

    @Option(name: .long, help: "The new checkpoint's name (default: NAME-kv).")
    var name: String?

    @Option(name: .long, help: "The new checkpoint's step (default: the source's).")
    var step: Int?

    @Option(name: .long, help: "The keys' and values' dtype: f32 or f64 (default: the prefix's).")
    var dtype: ComputeType?

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let info = try opened.checkpoint(checkpoint)
        guard info.form == .hidden else {
            throw StorageError(
                .invalidArgument, "\(info.reference) is already in key/value form: kv converts hidden-form checkpoints",
                reference: info.reference)
        }
        let saved = try opened.saveKeyValueForm(of: info, name: name, step: step, dtype: dtype.map { $0 == .f32 ? DType.f32 : .f64 })
        let config = try opened.base("base:" + info.baseFingerprint).config
        print(
            "saved \(saved.checkpoint.reference): key/value form of \(info.reference), \(saved.checkpoint.numLayers) layers, "
                + "K and V [\(config.prefixKVHeads), \(info.prefixLength), \(config.headDim)] each")
    }
}
