import ArgumentParser
import Foundation
import PrefixKit

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

    @Option(name: .long, help: "Seconds to wait for another writer before failing (0 to 86400).")
    var lockTimeout: Double = 10

    func validate() throws {
        guard !store.isEmpty else { throw ValidationError("STORE is empty: name the store's directory") }
        guard lockTimeout.isFinite, (0...86_400).contains(lockTimeout) else {
            throw ValidationError("--lock-timeout must be a number of seconds from 0 to 86400, not \(lockTimeout)")
        }
    }
}

extension StoreArgument {
    /// Runs `body` on the store, creating it if it does not exist; a store created here is
    /// removed again if `body` fails, so a failed command leaves no trace.
    func withStore<T>(creating compression: Compression = .none, _ body: (Store) throws -> T) throws -> T {
        let existed = FileManager.default.fileExists(atPath: Store.normalizePath(store))
        let opened = try Store.create(at: store, compression: compression, lockTimeout: lockTimeout)
        do {
            return try body(opened)
        } catch {
            if !existed { Store.discardNewStore(at: opened.directory) }
            throw error
        }
    }
}

/// A report file a command writes (`--html`, `--junit`): checked before the work, so that a
/// mistyped directory fails at once, in words, not after the whole run.
enum ReportPath {
    /// Checks `path` for `flag`: its directory exists and is writable, it is no directory, and
    /// it resolves outside every store in `stores` (so it can never overwrite a catalog or blob).
    static func validate(_ flag: String, _ path: String?, outside stores: [String] = []) throws {
        guard let path else { return }
        for store in stores where Paths.isInside(path, store) {
            throw ValidationError("\(flag) \(path) resolves inside the store \(Paths.resolved(store)); write it outside the store")
        }
        let parent = Paths.parent(path).isEmpty ? "." : Paths.parent(path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("\(flag) \(path): the directory \(parent) does not exist")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ValidationError("\(flag) \(path) is a directory; give a file name")
        }
        guard FileManager.default.isWritableFile(atPath: parent) else {
            throw ValidationError("\(flag) \(path): the directory \(parent) is not writable")
        }
    }
}
