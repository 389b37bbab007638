import PrefixKit

/// Every line the command prints on standard output passes through here: names, tags, paths
/// and messages come from stores and files someone else wrote, and an escape sequence in one
/// (a window title, a cleared screen, reordered bidi text) is shown escaped, never acted on
/// (``TerminalText``). It shadows the standard library's `print` in this module, so no call
/// can forget it.
func print(_ items: Any..., separator: String = " ", terminator: String = "\n") {
    let text = items.map { String(describing: $0) }.joined(separator: separator)
    Swift.print(TerminalText.escapeLines(text), terminator: terminator)
}
