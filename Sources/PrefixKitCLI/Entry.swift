import ArgumentParser
import Foundation
import PrefixKit

/// The entry point: runs the command and maps every failure onto PrefixKit's exit codes
/// (0 success, 1 a check found a problem, 2 usage, 3 unreadable input or I/O failure) instead
/// of argument-parser's defaults, printing one `error: ...` line on stderr.
@main
enum Entry {
    static func main() {
        // A write past a file-size limit then fails with EFBIG, reported like a full disk,
        // instead of killing the process halfway through a save.
        signal(SIGXFSZ, SIG_IGN)
        let arguments = Array(CommandLine.arguments.dropFirst())
        let command: any ParsableCommand
        do {
            command = try Prefixkit.parseAsRoot(arguments)
        } catch {
            let code = Prefixkit.exitCode(for: error)
            if code == .success {
                print(Prefixkit.fullMessage(for: error))
                exit(0)
            }
            report(usage: Prefixkit.fullMessage(for: error), arguments)
            exit(ExitStatus.usage.rawValue)
        }
        do {
            var command = command
            try command.run()
        } catch let failure as CommandFailure {
            exit(failure.status.rawValue)
        } catch  where isArgumentParserError(error) {
            // Help, version and parse errors raised while running (e.g. by the help command).
            if Prefixkit.exitCode(for: error) == .success {
                print(Prefixkit.fullMessage(for: error))
                exit(0)
            }
            report(usage: Prefixkit.fullMessage(for: error), arguments)
            exit(ExitStatus.usage.rawValue)
        } catch {
            let status = ExitStatus(for: error)
            let message = status == .usage && error is ValidationError ? "\(error)" : ExitStatus.message(for: error)
            if arguments.contains("--json") {
                // Scripts that read --json output read errors the same way.
                let json = TerminalText.escapeJSON(ExitStatus.json(for: error, status: status, message: message))
                FileHandle.standardError.write(Data((json + "\n").utf8))
            } else {
                // Messages name files, tensors and values from untrusted input: escaped.
                FileHandle.standardError.write(Data("error: \(TerminalText.escape(message))\n".utf8))
            }
            if ProcessInfo.processInfo.environment["PREFIXKIT_DEBUG"] != nil, let detailed = (error as? StorageError)?.detailedDescription {
                FileHandle.standardError.write(Data((TerminalText.escapeLines(detailed) + "\n").utf8))
            }
            exit(status.rawValue)
        }
    }

    /// A usage error from argument parsing: its text, or with `--json` one JSON error object.
    private static func report(usage text: String, _ arguments: [String]) {
        // argument-parser says `Error:`; PrefixKit's own errors say `error:`. One spelling.
        let text = text.hasPrefix("Error: ") ? "error: " + text.dropFirst("Error: ".count) : text
        let line =
            arguments.contains("--json")
            ? TerminalText.escapeJSON(
                ExitStatus.json(for: UsageError(text), status: .usage, message: text.split(separator: "\n").first.map(String.init) ?? text))
            : TerminalText.escapeLines(text)
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Whether an error comes from argument-parser itself rather than from PrefixKit.
    private static func isArgumentParserError(_ error: any Error) -> Bool {
        !(error is StorageError || error is CoreError || error is UsageError || error is ValidationError)
            && String(reflecting: type(of: error)).hasPrefix("ArgumentParser.")
    }
}
