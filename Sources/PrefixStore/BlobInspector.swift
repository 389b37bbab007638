public import Foundation
public import PrefixCore
import PrefixStoreRules

#if canImport(Glibc)
    import Glibc
#endif

/// One dataset a blob holds, as the catalog records it.
public struct BlobExpectation: Codable, Sendable, Hashable {
    /// The dataset's path in the blob (`/prefix/layer_00`).
    public var dataset: String
    /// The tensor's dtype.
    public var dtype: DType
    /// The tensor's shape.
    public var shape: [Int]
    /// The bytes of its data.
    public var byteLength: Int64
    /// Where its data starts in the file (contiguous datasets).
    public var fileOffset: Int64?
}

/// What reading a blob's HDF5 metadata through libhdf5 showed, against the catalog: what h5py
/// would read (datasets, shapes, types, attributes, data offsets).
public struct BlobInspection: Codable, Sendable, Hashable {
    /// The blob cannot be opened at all (or libhdf5 crashed or hung reading it).
    public var failure: String?
    /// Per dataset, what differs from the catalog.
    public var problems: [String: String] = [:]
    /// Per dataset, a declared size its stored bytes cannot hold (reading it would allocate
    /// what the blob does not have).
    public var sizeProblems: [String: String] = [:]
}

/// Where blobs' HDF5 metadata is read: libhdf5 walks structures a damaged file controls, and a
/// flipped byte there has crashed it (SIGSEGV) or made it allocate gigabytes. In a child
/// process, such a blob is reported as damaged and the caller lives on.
public enum BlobIsolation: Sendable {
    /// In this process (library use without an executable at hand).
    case inProcess
    /// In a child running `executable arguments... REQUESTS`, which must serve
    /// ``BlobInspector/serve(requests:)``
    /// (`prefixkit` does, as its hidden `inspect-blobs` command), under a memory limit, killed
    /// after `timeout` seconds without progress.
    case childProcess(executable: String, arguments: [String], timeout: Double)
}

/// Reads blobs' HDF5 views and compares them with the catalog.
public enum BlobInspector {
    /// The address space a child inspector may use.
    public static let childMemoryLimit: rlim_t = 4 << 30

    /// Inspects one blob in this process.
    public static func inspect(path: String, expecting: [BlobExpectation]) -> BlobInspection {
        var result = BlobInspection()
        let reader: HDF5BlobReader
        do {
            reader = try HDF5BlobReader(blob: BlobFile(directory: Paths.parent(path), name: String(path.split(separator: "/").last ?? "")))
        } catch {
            result.failure = error.message
            return result
        }
        defer { reader.close() }
        do {
            _ = try reader.walk()
        } catch {
            result.failure = "libhdf5 cannot walk the file's objects, so h5py cannot read it (\(error))"
            return result
        }
        for expected in expecting {
            do {
                let info = try reader.info(expected.dataset, expecting: expected.dtype)
                var problems: [String] = []
                if info.dimensions != expected.shape { problems.append("shape \(info.dimensions) instead of \(expected.shape)") }
                if !info.matchesType { problems.append("stored type differs from \(expected.dtype)") }
                if info.dtypeAttribute != expected.dtype.hdf5AttributeName {
                    problems.append("dtype attribute \(info.dtypeAttribute ?? "missing") instead of \(expected.dtype.hdf5AttributeName)")
                }
                if info.attributeCount != 1 { problems.append("\(info.attributeCount) attributes instead of 1 (dtype)") }
                if expected.byteLength > 0, !info.isChunked {
                    if info.offset.map({ Int64($0) }) != expected.fileOffset {
                        problems.append(
                            "data at offset \(info.offset.map(String.init) ?? "none") instead of \(expected.fileOffset.map(String.init) ?? "none")"
                        )
                    }
                    if info.storageSize != UInt64(expected.byteLength) {
                        problems.append("\(info.storageSize) bytes of data instead of \(expected.byteLength)")
                    }
                }
                if let problem = HDF5BlobReader.expansionProblem(info, byteLength: expected.byteLength, fileSize: reader.fileSize) {
                    result.sizeProblems[expected.dataset] = problem
                }
                if !problems.isEmpty { result.problems[expected.dataset] = problems.joined(separator: "; ") }
            } catch {
                result.problems[expected.dataset] = "cannot be read: \(error)"
            }
        }
        return result
    }

    /// Inspects every blob of `jobs`, in order, where `isolation` says.
    static func inspect(_ jobs: [(path: String, expecting: [BlobExpectation])], isolation: BlobIsolation) -> [BlobInspection] {
        switch isolation {
        case .inProcess:
            return jobs.map { inspect(path: $0.path, expecting: $0.expecting) }
        case .childProcess(let executable, let arguments, let timeout):
            let inspection = ChildInspection(executable: executable, arguments: arguments, timeout: timeout)
            // One child per core (at most four) on contiguous slices: libhdf5 is serial, the
            // blobs are independent, and a large store is mostly time spent opening files.
            let children = min(ProcessInfo.processInfo.activeProcessorCount, maxChildren, (jobs.count + 127) / 128)
            guard children > 1 else { return inspection.run(jobs) }
            let results = SliceResults(count: children)
            DispatchQueue.concurrentPerform(iterations: children) { child in
                let (low, high) = (jobs.count * child / children, jobs.count * (child + 1) / children)
                results.set(child, inspection.run(Array(jobs[low..<high])))
            }
            return results.joined
        }
    }

    /// The most inspector children run at once.
    static let maxChildren = 4

    /// Each child's answers, written by concurrent children.
    private final class SliceResults: @unchecked Sendable {
        // Safety: every access goes through `lock`.
        private var slices: [[BlobInspection]]
        private let lock = NSLock()
        init(count: Int) { slices = Array(repeating: [], count: count) }
        func set(_ index: Int, _ value: [BlobInspection]) { lock.withLock { slices[index] = value } }
        var joined: [BlobInspection] { lock.withLock { slices.flatMap { $0 } } }
    }

    /// One request line of the child protocol.
    struct Request: Codable {
        var path: String
        var expecting: [BlobExpectation]
    }

    /// The child side: limits its own memory, then reads one JSON request per line from the
    /// file at `requests` and answers each with one JSON ``BlobInspection`` line on stdout.
    public static func serve(requests: String) {
        var limit = rlimit(rlim_cur: childMemoryLimit, rlim_max: childMemoryLimit)
        _ = setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
        let decoder = JSONDecoder(), encoder = JSONEncoder()
        let text = (try? String(contentsOfFile: requests, encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n").map(String.init) {
            guard let request = try? decoder.decode(Request.self, from: Data(line.utf8)) else { continue }
            let inspection = inspect(path: request.path, expecting: request.expecting)
            let data = (try? encoder.encode(inspection)) ?? Data("{}".utf8)
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        }
    }
}

/// Runs the child inspector over the jobs, restarting it after a blob that killed it.
private struct ChildInspection {
    let executable: String
    let arguments: [String]
    let timeout: Double

    func run(_ jobs: [(path: String, expecting: [BlobExpectation])]) -> [BlobInspection] {
        var results: [BlobInspection] = []
        while results.count < jobs.count {
            let remaining = Array(jobs[results.count...])
            let (answers, death) = runOnce(remaining)
            results += answers
            if results.count < jobs.count {
                // The blob being read when the child died (or stopped answering) is the damaged one.
                results.append(BlobInspection(failure: death ?? "the inspector stopped without answering"))
            }
        }
        return results
    }

    /// Answers until the child ends or stalls; the reason it ended early, if it did.
    private func runOnce(_ jobs: [(path: String, expecting: [BlobExpectation])]) -> ([BlobInspection], String?) {
        // Requests go in a file, not a pipe: a child that dies early must not SIGPIPE the caller.
        let requests = FileManager.default.temporaryDirectory.path + "/prefixkit-inspect-\(getpid())-\(UUID().uuidString.prefix(8)).jsonl"
        let encoder = JSONEncoder()
        var body = Data()
        for job in jobs {
            if let data = try? encoder.encode(BlobInspector.Request(path: job.path, expecting: job.expecting)) {
                body += data + Data("\n".utf8)
            }
        }
        guard FileManager.default.createFile(atPath: requests, contents: body) else {
            return ([], "cannot write the blob inspector's requests to \(requests)")
        }
        defer { FileSystem.discard(requests) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments + [requests]
        let output = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        // The inspector computes nothing: without this, BLAS's idle worker threads spin at its
        // start-up on the cores the check itself needs.
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        process.environment = environment
        do { try process.run() } catch {
            return ([], "cannot start the blob inspector \(executable): \(error)")
        }
        // Only the child writes answers: without this, the pipe never reaches end of file.
        try? output.fileHandleForWriting.close()
        let lines = LineCollector(output.fileHandleForReading)
        var answers: [BlobInspection] = []
        while answers.count < jobs.count {
            guard let line = lines.next(timeout: timeout) else {
                if !lines.hasEnded {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    return (answers, "libhdf5 did not finish reading its metadata within \(String(format: "%g", timeout)) s (killed)")
                }
                process.waitUntilExit()
                let how =
                    process.terminationReason == .uncaughtSignal
                    ? "crashed (signal \(process.terminationStatus))" : "exited (status \(process.terminationStatus))"
                return (answers, "libhdf5 \(how) reading its metadata: the HDF5 structures are damaged")
            }
            answers.append(
                (try? JSONDecoder().decode(BlobInspection.self, from: Data(line.utf8)))
                    ?? BlobInspection(failure: "unreadable inspector answer"))
        }
        process.waitUntilExit()
        return (answers, nil)
    }
}

/// Lines read from a pipe, waiting at most a timeout for each (`poll`).
private final class LineCollector {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var hasEnded = false

    init(_ handle: FileHandle) { fd = handle.fileDescriptor }

    /// The next line, or nil when the pipe ended or `timeout` passed without one.
    func next(timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            if hasEnded { return nil }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(min(left * 1000, 60_000)) + 1)
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 65_536)
            let count = read(fd, &chunk, chunk.count)
            if count <= 0 { hasEnded = true } else { buffer += chunk[0..<count] }
        }
    }
}
