import ArgumentParser
import Foundation
import PrefixKit

/// `prefixkit inspect-blobs` (hidden): the child process in which `check` and `verify` let
/// libhdf5 read blobs' metadata, so that a blob that crashes or bloats libhdf5 is reported as
/// damaged instead of taking the command down.
struct InspectBlobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect-blobs",
        abstract: "Read blobs' HDF5 metadata for check and verify (internal: JSON lines in, JSON lines on stdout).",
        shouldDisplay: false)

    @Argument(help: "The file of requests, one JSON object per line.")
    var requests: String

    func run() throws {
        BlobInspector.serve(requests: requests)
    }

    /// How check and verify run this command: this very executable, in a child process.
    static var isolation: BlobIsolation {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return .inProcess }
        let executable = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return .childProcess(executable: executable, arguments: ["inspect-blobs"], timeout: 60)
    }
}
