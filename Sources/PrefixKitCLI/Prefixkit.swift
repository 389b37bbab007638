import ArgumentParser
import PrefixKit

/// `prefixkit`: store, convert and verify prefix-tuning checkpoints.
struct Prefixkit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prefixkit",
        abstract: "Store, convert and verify prefix-tuning checkpoints.",
        discussion: """
            A store is a directory holding a SQLite catalog and HDF5 blobs. Checkpoints are named NAME \
            (latest step) or NAME@STEP; bases are named base:FP (a fingerprint prefix of 8 or more hex digits) \
            or by alias. Exit codes: 0 success, 1 a check found a problem, 2 usage error, 3 unreadable input or I/O failure.
            """,
        version: PrefixKitVersion.current,
        subcommands: [
            Demo.self, Init.self, Import.self, Export.self, Convert.self, List.self, Inspect.self, Check.self, GC.self, Delete.self,
            Forward.self, KeyValue.self, Verify.self, Reference.self, Diff.self, Probe.self, Recover.self, InspectBlobs.self,
        ]
    )
}
