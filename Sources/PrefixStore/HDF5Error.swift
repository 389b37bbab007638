import Foundation

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

    /// The system error a failed read or write of the file driver reported, if any (libhdf5
    /// writes it into the frame text as `errno = N`).
    var systemErrno: Int32? {
        for frame in frames {
            guard let range = frame.range(of: "errno = ") else { continue }
            let digits = frame[range.upperBound...].prefix { $0.isNumber }
            if let value = Int32(digits) { return value }
        }
        return nil
    }

    /// A reason a user can act on, for the errors that have one.
    var plainReason: String? {
        switch systemErrno {
        case 28?: "the disk is full (no space left on the device)"
        case 27?: "the file-size limit was reached (File too large)"
        case 122?: "the disk quota is exceeded"
        case 30?: "the file system is read-only"
        default: nil
        }
    }
}
