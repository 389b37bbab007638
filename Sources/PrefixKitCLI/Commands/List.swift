import ArgumentParser
import PrefixKit

/// `prefixkit list`: bases and checkpoints.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the bases and checkpoints in a store.")

    @OptionGroup var store: StoreArgument
    @OptionGroup var output: OutputOptions

    struct Document: Encodable {
        var store: String
        var bases: [BaseInfo]
        var checkpoints: [CheckpointInfo]
    }

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let bases = try opened.bases()
        let checkpoints = try opened.checkpoints()
        if output.json {
            try JSONOutput.print(Document(store: opened.directory, bases: bases, checkpoints: checkpoints))
            return
        }
        print("bases (\(bases.count))")
        if !bases.isEmpty {
            print(Format.table(bases.map { base in
                [base.shortReference, Format.config(base.config), "\(base.tensorCount) tensors", Format.bytes(base.byteCount),
                 base.alias.map { "alias \($0)" } ?? ""]
            }))
        }
        print("checkpoints (\(checkpoints.count))")
        if !checkpoints.isEmpty {
            print(Format.table(checkpoints.map { info in
                ["\(info.reference)", info.form.rawValue, "Pn=\(info.prefixLength)", "L=\(info.numLayers)",
                 "base:" + info.baseFingerprint.prefix(12), info.createdAt,
                 info.tags.isEmpty ? "" : "tags " + info.tags.joined(separator: ",")]
            }))
        }
    }
}
