import ArgumentParser
import Foundation
import PrefixKit

/// `--quiet` and `--progress`, for the commands that can take more than a second.
struct ProgressOptions: ParsableArguments {
    @Flag(name: .long, help: "Show no progress line, even on a terminal.")
    var quiet = false

    @Flag(name: .long, help: "Show progress even when stderr is not a terminal (one line a second).")
    var progress = false

    func validate() throws {
        if quiet && progress { throw ValidationError("--quiet and --progress contradict each other: pass one") }
    }

    /// How progress is shown: redrawn in place on a terminal, as lines when forced elsewhere.
    var mode: Progress.Mode {
        if quiet { return .off }
        if isatty(2) == 1 { return .terminal }
        return progress ? .lines : .off
    }
}

/// A progress line on stderr: the bytes done of the total, the rate and the time left; or a
/// step of counted work (`run@3 (2/5): layer 4/12`). Redrawn at most ten times a second on a
/// terminal, written as one line a second at most when forced elsewhere, silent otherwise.
final class Progress: @unchecked Sendable {
    /// Where progress goes.
    enum Mode {
        /// Nowhere.
        case off
        /// One line on a terminal, redrawn in place and cleared at the end.
        case terminal
        /// Whole lines (logs, CI): at most one a second, and the last.
        case lines
    }

    // Safety: every mutable field is accessed under `lock` (callbacks may come from worker threads).
    private let lock = NSLock()
    private let label: String
    private var total: Int64
    private let mode: Mode
    private let started = Date()
    private var last = Date.distantPast
    private var drawn = false
    private var lastText = ""

    init(_ label: String, total: Int64 = 0, mode: Mode) {
        self.label = label
        self.total = total
        self.mode = mode
    }

    /// `done` bytes of the total; `total` replaces the one given at creation when positive.
    func update(_ done: Int64, _ total: Int64 = 0) {
        lock.lock()
        defer { lock.unlock() }
        if total > 0 { self.total = total }
        guard self.total > 0 else { return }
        let finished = done >= self.total
        guard throttle(finished: finished) else { return }
        let fraction = min(1, Double(max(0, done)) / Double(self.total))
        let filled = Int(fraction * 24)
        let elapsed = Date().timeIntervalSince(started)
        var text =
            "\(label) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: 24 - filled))] \(Int(fraction * 100))% \(Format.bytes(done))/\(Format.bytes(self.total))"
        if elapsed > 0.2, done > 0 {
            text += " \(Format.rate(done, elapsed))"
            if !finished { text += " ETA \(Self.duration(elapsed * Double(self.total - done) / Double(done)))" }
        }
        draw(text)
    }

    /// A step of counted work, e.g. `verifying run@3 (2/5): layer 4/12`.
    func step(_ text: String, final: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        guard throttle(finished: final) else { return }
        draw("\(label) \(text)")
    }

    /// Clears a terminal's line; in line mode, nothing more is written.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if mode == .terminal, drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }

    /// Whether to draw now: ten times a second on a terminal, once a second as lines; always
    /// for the last update.
    private func throttle(finished: Bool) -> Bool {
        guard mode != .off else { return false }
        let interval = mode == .terminal ? 0.1 : 1.0
        guard finished || Date().timeIntervalSince(last) >= interval else { return false }
        last = Date()
        return true
    }

    private func draw(_ text: String) {
        let text = TerminalText.escape(text)
        guard text != lastText else { return }
        lastText = text
        drawn = true
        switch mode {
        case .off: return
        case .terminal: FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        case .lines: FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }

    /// `4s`, `2m05s`, `1h02m`.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}
