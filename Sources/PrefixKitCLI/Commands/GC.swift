import ArgumentParser
import PrefixKit

/// `prefixkit gc`: remove leftovers.
struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove what interrupted saves left behind and blobs nothing references.")

    @OptionGroup var store: StoreArgument

    @Flag(name: .long, help: "Remove nothing: print what would go and the bytes it would free.")
    var dryRun = false

    @OptionGroup var output: OutputOptions
    @OptionGroup var progress: ProgressOptions

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let bar = Progress(dryRun ? "gc (dry run)" : "gc", mode: progress.mode)
        let summary = try opened.gc(dryRun: dryRun) { done, total in bar.step("leftover \(done)/\(total)", final: done == total) }
        bar.finish()
        if output.json { return try JSONOutput.print(summary) }
        if dryRun {
            print(
                "gc (dry run, nothing removed): would remove \(summary.leftoverFiles) leftover file(s), \(summary.blobFiles) unreferenced blob(s), \(summary.tensors) tensor row(s); would free \(Format.bytes(summary.bytesFreed))"
            )
            return
        }
        print(
            "gc: removed \(summary.leftoverFiles) leftover file(s), \(summary.blobFiles) unreferenced blob(s), \(summary.tensors) tensor row(s); freed \(Format.bytes(summary.bytesFreed))"
        )
    }
}
