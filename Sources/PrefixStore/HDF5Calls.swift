internal import CHDF5
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The single funnel through which PrefixKit calls libhdf5.
///
/// Every wrapper checks the return value and turns a failure into an ``HDF5Error`` carrying the
/// library's error stack. libhdf5 is built thread-safe here, but a create/write/close sequence
/// must still not interleave with another thread's, so whole operations run inside
/// ``serialized(_:)``.
enum HDF5 {
    private static let lock = NSRecursiveLock()
    private static let initialized: Bool = {
        // No library shutdown at exit: after a write error (a full disk) libhdf5 1.10 leaves the
        // failed file half-closed, and its atexit handler then dereferences freed state
        // (SIGSEGV in H5F__close_cb). The process is ending; the kernel reclaims everything.
        _ = H5dont_atexit()
        _ = H5open()
        // Never let the library print its error stacks; they are walked into HDF5Error instead.
        _ = H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
        return true
    }()

    /// Runs `body` with the library lock held (initialising the library once).
    static func serialized<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        _ = initialized
        lock.lock()
        defer { lock.unlock() }
        // The printing switch is per thread in a thread-safe libhdf5: set it on whichever
        // thread calls, not only the one that initialised the library.
        _ = H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
        return try body()
    }

    /// Checks an identifier-returning call.
    @discardableResult
    static func check(_ id: hid_t, _ call: String, _ subject: String) throws(HDF5Error) -> hid_t {
        if id < 0 { throw failure(call, subject) }
        return id
    }

    /// Checks a status-returning call.
    static func check(_ status: herr_t, _ call: String, _ subject: String) throws(HDF5Error) {
        if status < 0 { throw failure(call, subject) }
    }

    /// Builds an error from the current error stack, then clears it.
    static func failure(_ call: String, _ subject: String) -> HDF5Error {
        var frames: [String] = []
        withUnsafeMutablePointer(to: &frames) { pointer in
            _ = H5Ewalk2(
                hid_t(H5E_DEFAULT), H5E_WALK_UPWARD,
                { _, error, context in
                    guard let error, let context else { return 0 }
                    let list = context.assumingMemoryBound(to: [String].self)
                    if let desc = error.pointee.desc {
                        let function = error.pointee.func_name.map { String(cString: $0) } ?? "?"
                        list.pointee.append("\(function): \(String(cString: desc))")
                    }
                    return 0
                }, pointer)
        }
        _ = H5Eclear2(hid_t(H5E_DEFAULT))
        return HDF5Error(call: call, subject: subject, frames: frames)
    }
}

/// An owned HDF5 identifier of a leaf object (dataspace, datatype, property list, dataset,
/// attribute, group), closed exactly once when it goes out of scope.
struct H5Handle: ~Copyable {
    enum Kind { case dataspace, datatype, propertyList, dataset, attribute, group }
    let id: hid_t
    let kind: Kind

    /// Adopts `id`, which must be a valid identifier this code owns.
    init(_ id: hid_t, _ kind: Kind) {
        precondition(id >= 0, "adopting an invalid HDF5 identifier")
        self.id = id
        self.kind = kind
    }

    deinit { _ = H5Handle.close(id, kind) }

    /// Closes now, reporting failure (for objects whose close can fail meaningfully).
    consuming func close() throws(HDF5Error) {
        let (id, kind) = (self.id, self.kind)
        discard self
        try HDF5.check(H5Handle.close(id, kind), "H5\(kind)close", "identifier \(id)")
    }

    private static func close(_ id: hid_t, _ kind: Kind) -> herr_t {
        switch kind {
        case .dataspace: H5Sclose(id)
        case .datatype: H5Tclose(id)
        case .propertyList: H5Pclose(id)
        case .dataset: H5Dclose(id)
        case .attribute: H5Aclose(id)
        case .group: H5Gclose(id)
        }
    }
}
