import Foundation
import TestSupport
import Testing

/// The committed libFuzzer corpus (`Fuzz/corpus`, grown by `scripts/fuzz`) replayed through every
/// parser target in a normal build: none of those inputs may crash a parser again.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    /// The corpus's targets: one directory each.
    static let targets = ((try? FileManager.default.contentsOfDirectory(atPath: Processes.repositoryRoot + "/Fuzz/corpus")) ?? []).sorted()

    @Test("every committed input of every target parses or is refused, never crashes", arguments: targets)
    func replay(target: String) throws {
        let binary = Processes.productsDirectory.appendingPathComponent("PrefixFuzz").path
        let corpus = Processes.repositoryRoot + "/Fuzz/corpus/" + target
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(!inputs.isEmpty)
        let run = try Processes.run(binary, [corpus], environment: ["PREFIXKIT_FUZZ_TARGET": target])
        #expect(run.status == 0 && run.signal == nil, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("\(target): replayed \(inputs.count) input(s), none crashed"), "\(run.stdout)")
    }

    @Test("the registered targets are exactly the corpus's: every parser has a corpus, every corpus a parser")
    func registry() throws {
        let binary = Processes.productsDirectory.appendingPathComponent("PrefixFuzz").path
        let run = try Processes.run(binary, [], environment: ["PREFIXKIT_FUZZ_TARGET": ""])
        #expect(run.status == 2)
        let listed = run.stderr.components(separatedBy: "one of: ").last?.trimmingCharacters(in: .whitespacesAndNewlines)
        let names = listed?.components(separatedBy: ", ").sorted() ?? []
        #expect(names == Self.targets && names.count >= 10, "\(run.stderr)")
    }
}
