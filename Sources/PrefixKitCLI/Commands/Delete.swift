import ArgumentParser
import PrefixKit

/// `prefixkit delete`: remove a checkpoint or a base.
struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete a checkpoint or a base; blobs are removed once nothing references them.",
        discussion: "A base that checkpoints use, or a checkpoint other checkpoints name as parent, is deleted only with --cascade.")

    @OptionGroup var store: StoreArgument

    @Argument(help: "The checkpoint (NAME or NAME@STEP) or base (base:FP or alias) to delete.")
    var ref: String

    @Flag(name: .long, help: "Also delete the checkpoints that depend on it.")
    var cascade = false

    @Flag(
        name: .long,
        help: "Delete every step of the checkpoint's name (with --cascade, the checkpoints of other names that descend from them).")
    var allSteps = false

    @Flag(name: .long, help: "Delete nothing: print what would go and the bytes it would free.")
    var dryRun = false

    @OptionGroup var output: OutputOptions

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let summary = try opened.delete(ref, cascade: cascade, allSteps: allSteps, dryRun: dryRun)
        if output.json { return try JSONOutput.print(summary) }
        let what = (summary.bases.map { "base:" + $0.prefix(12) } + summary.checkpoints).joined(separator: ", ")
        if dryRun {
            print(
                "would delete \(what); would remove \(summary.blobFiles) blob(s), freeing \(Format.bytes(summary.bytesFreed)) (dry run: nothing deleted)"
            )
            return
        }
        print("deleted \(what); removed \(summary.blobFiles) blob(s), freed \(Format.bytes(summary.bytesFreed))")
        // What is left of each name a step was deleted from.
        let names = Set(summary.checkpoints.compactMap { $0.split(separator: "@").first.map(String.init) })
        let remaining = try opened.checkpoints()
        for name in names.sorted() {
            let steps = remaining.filter { $0.name == name }.map { String($0.step) }
            print(
                steps.isEmpty
                    ? "\(name) has no steps left" : "\(name) keeps step\(steps.count == 1 ? "" : "s") \(steps.joined(separator: ", "))")
        }
    }
}
