import Foundation

/// Timing helpers.
enum Measure {
    /// Seconds taken by `body`.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    }

    /// The CPU time (user + system) of the waited-for child processes so far.
    static func childCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    /// The wall time and CPU time of `body`, which runs child processes.
    static func processSeconds(_ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double) {
        let cpu = childCPUSeconds()
        let wall = try seconds(body)
        return (wall, childCPUSeconds() - cpu)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Reads every byte (as 64-bit words) so a load cannot skip work; returns a checksum.
    @inline(never)
    static func touch(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var sum: UInt64 = 0
        let words = bytes.count / 8
        if let base = bytes.baseAddress {
            let p = base.assumingMemoryBound(to: UInt64.self)
            var i = 0
            while i < words {
                sum &+= p[i]
                i += 1
            }
        }
        for i in (words * 8)..<bytes.count { sum &+= UInt64(bytes[i]) }
        return sum
    }

    static func gbps(_ bytes: Int, _ seconds: Double) -> String { String(format: "%.2f GB/s", Double(bytes) / seconds / 1e9) }
    static func ms(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }
    static func ratio(_ value: Double) -> String { String(format: "%.2fx", value) }
}
