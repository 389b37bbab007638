import Foundation

/// Removing what an operation leaves behind when it is done or has failed: a temporary file or
/// directory of its own making. A removal that fails changes nothing the operation reports (the
/// leftover is in a temporary directory, or in a store where `gc` and `recover` reclaim it), so
/// its error is dropped here, in one place, instead of at every call.
public enum Leftovers {
    /// Removes `path` and everything below it, if it exists.
    public static func discard(_ path: String) {
        do { try FileManager.default.removeItem(atPath: path) } catch {
            // Nothing to do: see the type's description.
        }
    }
}
