import ArgumentParser
import Foundation
import PrefixKit

/// PrefixKit's exit codes: a contract with users' CI scripts.
enum ExitStatus: Int32 {
    /// Everything succeeded.
    case success = 0
    /// A check or verification found a problem (including corruption).
    case finding = 1
    /// Bad flags, an unknown checkpoint or base, a name already taken.
    case usage = 2
    /// Input that cannot be opened or parsed, or an I/O failure.
    case input = 3

    /// The status an error maps to. Damage found in the store (a digest or structure mismatch)
    /// is a finding wherever it surfaced, even wrapped by the engine or a format writer.
    init(for error: any Error) {
        if ExitStatus.storeDamage(in: error) != nil {
            self = .finding
            return
        }
        switch error {
        case let error as StorageError:
            switch error.code {
            case .digestMismatch, .structureMismatch: self = .finding
            case .notFound, .ambiguous, .alreadyExists, .inUse, .invalidArgument: self = .usage
            case .storeNotFound, .notAStore, .newerSchema, .corruptCatalog, .corruptBlob, .storeLocked, .readOnly, .io, .database,
                .hostileStore:
                self = .input
            }
        case let error as CoreError:
            self = error.code == .invalidName ? .usage : .input
        case is ComputeError, is FormatError:
            self = .input
        case is ValidationError:
            self = .usage
        case let error as UsageError:
            _ = error
            self = .usage
        default:
            self = .input
        }
    }

    /// The store damage (digest or structure mismatch) behind `error`, if any.
    static func storeDamage(in error: any Error) -> StorageError? {
        var current: (any Error)? = error
        for _ in 0..<8 {
            switch current {
            case let error as StorageError:
                if error.code == .digestMismatch || error.code == .structureMismatch { return error }
                current = error.underlying
            case let error as ComputeError: current = error.cause
            case let error as FormatError: current = error.cause
            default: return nil
            }
        }
        return nil
    }

    /// The one-line message for an error.
    static func message(for error: any Error) -> String {
        if let text = fileSystemMessage(error) { return text }
        return String(describing: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
    }

    /// Foundation's file errors (a full disk, a directory that cannot be written) in words:
    /// the file and the system's reason, not `Error Domain=NSCocoaErrorDomain Code=...`.
    static func fileSystemMessage(_ error: any Error) -> String? {
        guard !(error is StorageError || error is FormatError || error is ComputeError || error is CoreError) else { return nil }
        let nsError = error as NSError
        guard nsError.domain == NSCocoaErrorDomain || nsError.domain == NSPOSIXErrorDomain else { return nil }
        let path = nsError.userInfo[NSFilePathErrorKey] as? String ?? (nsError.userInfo[NSURLErrorKey] as? URL)?.path
        let posix =
            nsError.domain == NSPOSIXErrorDomain
            ? nsError.code
            : (nsError.userInfo[NSUnderlyingErrorKey] as? any Error).map { $0 as NSError }.flatMap {
                $0.domain == NSPOSIXErrorDomain ? $0.code : nil
            }
        let reason = posix.map { String(cString: strerror(Int32($0))) } ?? nsError.localizedDescription
        return path.map { "cannot write or read \($0): \(reason)" } ?? "file system error: \(reason)"
    }

    /// The error as one JSON object (`schemas/error.schema.json`), for `--json` runs: the exit
    /// code, a stable code (`StorageError.alreadyExists`, `FormatError.pickleRefused` ...), the
    /// message, and the file, tensor and member where the error names them.
    static func json(for error: any Error, status: ExitStatus, message: String) -> String {
        var fields: [String: Any] = ["exit_code": Int(status.rawValue), "message": message]
        switch error {
        case let error as StorageError:
            fields["code"] = "StorageError.\(error.code.rawValue)"
            fields["finding"] = error.finding?.rawValue
            fields["path"] = error.path
            fields["tensor"] = error.tensor
        case let error as FormatError:
            fields["code"] = "FormatError.\(error.code.rawValue)"
            fields["path"] = error.path
            fields["member"] = error.member
        case let error as ComputeError:
            fields["code"] = "ComputeError.\(error.code.rawValue)"
            fields["tensor"] = error.tensor
        case let error as CoreError:
            fields["code"] = "CoreError.\(error.code.rawValue)"
        default:
            fields["code"] = status == .usage ? "UsageError" : "Error"
        }
        let data =
            (try? JSONSerialization.data(withJSONObject: ["error": fields.compactMapValues { $0 }], options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A usage mistake found after parsing (e.g. a flag combination).
struct UsageError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Ends a command with a status after it has printed its own report (a failed check).
struct CommandFailure: Error {
    var status: ExitStatus
}
