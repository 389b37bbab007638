import ArgumentParser
import PrefixKit

/// `prefixkit init`: create an empty store.
struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an empty store (commands that save create one on first use too).")

    @OptionGroup var store: StoreArgument

    @Option(name: .long, help: "Compression of new blobs: none, gzip or gzip:1-9 (a per-store setting, fixed at creation).")
    var compression = "none"

    func run() throws {
        let opened = try Store.create(at: store.store, compression: try Compression(parsing: compression), lockTimeout: store.lockTimeout)
        print("store \(opened.directory) ready (compression \(opened.compression))")
    }
}
