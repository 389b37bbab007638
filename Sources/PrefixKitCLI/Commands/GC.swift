import ArgumentParser
import PrefixKit

/// `prefixkit gc`: remove leftovers.
struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove what interrupted saves left behind and blobs nothing references.")

    @OptionGroup var store: StoreArgument
    @OptionGroup var output: OutputOptions

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let summary = try opened.gc()
        if output.json { return try JSONOutput.print(summary) }
        print("gc: removed \(summary.leftoverFiles) leftover file(s), \(summary.blobFiles) unreferenced blob(s), \(summary.tensors) tensor row(s); freed \(Format.bytes(summary.bytesFreed))")
    }
}
