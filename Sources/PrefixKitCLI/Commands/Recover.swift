import ArgumentParser
import PrefixKit

/// `prefixkit recover`: put back saves the catalog lost, from their manifests.
struct Recover: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Put back bases and checkpoints the catalog lost (a damaged write-ahead log, an old backup), from the manifests every save writes.",
        discussion: """
            Every save writes manifests/<kind>-<key>.json with the catalog rows it made. recover replays those whose rows \
            the catalog no longer holds, after checking their blob files; check reports them as possible catalog loss. \
            Deletes and tag changes are catalog-only and are not replayed. Exits 1 when a manifest could not be replayed.
            """)

    @OptionGroup var store: StoreArgument
    @OptionGroup var output: OutputOptions
    @OptionGroup var progress: ProgressOptions

    func run() throws {
        let opened = try Store.open(at: store.store, lockTimeout: store.lockTimeout)
        let bar = Progress("recovering", mode: progress.mode)
        let summary = try opened.recover { done, total in bar.step("manifest \(done)/\(total)", final: done == total) }
        bar.finish()
        if output.json {
            try JSONOutput.print(summary)
        } else {
            for reference in summary.recovered { print("recovered \(reference)") }
            for failure in summary.failed { print("FAILED \(failure)") }
            print("recover: \(summary.recovered.count) recovered, \(summary.intact) already in the catalog, \(summary.failed.count) failed")
        }
        if !summary.failed.isEmpty { throw CommandFailure(status: .finding) }
    }
}
