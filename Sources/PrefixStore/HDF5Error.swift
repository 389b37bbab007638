/// A failed libhdf5 call: which call, on what, and the library's own error stack (innermost
/// frame first), walked with `H5Ewalk2` instead of being printed to stderr.
struct HDF5Error: Error, CustomStringConvertible {
    /// The C function that failed, e.g. `H5Dwrite`.
    var call: String
    /// What the call was working on (a file or dataset path).
    var subject: String
    /// The descriptions of the library's error-stack frames.
    var frames: [String]

    var description: String {
        let detail = frames.last.map { ": \($0)" } ?? ""
        return "\(call) failed on \(subject)\(detail)"
    }
}
