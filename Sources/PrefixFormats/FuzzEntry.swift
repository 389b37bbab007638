import Foundation

/// One parser of untrusted input as the fuzzer drives it: a name (`PREFIXKIT_FUZZ_TARGET`, the
/// corpus directory `Fuzz/corpus/NAME`) and an entry point fed arbitrary bytes, which must return
/// or throw (a refusal is the expected outcome of most inputs), never trap, hang or allocate
/// without bound.
public struct FuzzEntry: Sendable {
    /// The target's name.
    public let name: String
    /// Runs the parser on `bytes`; `scratch` is a directory for parsers that read files.
    public let run: @Sendable (_ bytes: UnsafeRawBufferPointer, _ scratch: String) throws -> Void

    /// An entry named `name` running `run`.
    public init(_ name: String, run: @escaping @Sendable (_ bytes: UnsafeRawBufferPointer, _ scratch: String) throws -> Void) {
        self.name = name
        self.run = run
    }

    /// Writes `bytes` to `scratch/name` for a parser that reads a file, and returns the path.
    public static func file(_ bytes: UnsafeRawBufferPointer, _ scratch: String, _ name: String) -> String {
        let path = scratch + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }
}
