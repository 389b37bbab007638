#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Crash points for testing durability (debug builds only).
///
/// Every step of a save that changes durable state passes a named point. When the environment
/// variable `PREFIXKIT_FAULT_KILL_AT` is `K`, the process sends itself `SIGKILL` at the K-th
/// point passed, exactly as `kill -9` would stop it there. In release builds this compiles to
/// nothing.
enum FaultInjection {
    #if DEBUG
    nonisolated(unsafe) private static var passed = 0
    private static let killAt: Int? = getenv("PREFIXKIT_FAULT_KILL_AT").flatMap { Int(String(cString: $0)) }
    private static let trace = getenv("PREFIXKIT_FAULT_TRACE") != nil
    #endif

    /// Passes crash point `name`.
    @inline(__always)
    static func point(_ name: @autoclosure () -> String) {
        #if DEBUG
        guard killAt != nil || trace else { return }
        passed += 1
        if trace { FileHandle.standardError.write(Data("fault point \(passed): \(name())\n".utf8)) }
        if passed == killAt { kill(getpid(), SIGKILL) }
        #endif
    }
}
