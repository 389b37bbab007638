import ArgumentParser

/// Options every command that reports shares.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the result as JSON (its schema is in schemas/).")
    var json = false

    @Flag(name: .shortAndLong, help: "Print more detail.")
    var verbose = false
}

/// The store every command but demo takes as its first argument.
struct StoreArgument: ParsableArguments {
    @Argument(help: "The store directory.")
    var store: String

    @Option(name: .long, help: "Seconds to wait for another writer before failing.")
    var lockTimeout: Double = 10
}
