import Foundation
import TestSupport
import Testing

/// The committed libFuzzer corpus (`Fuzz/corpus`, grown by `scripts/fuzz`) replayed through every
/// parser target in a normal build: none of those inputs may crash a parser again.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    @Test(
        "every committed input of every target parses or is refused, never crashes",
        arguments: ["safetensors", "npy", "npz", "exchange", "hfconfig", "peftconfig", "pickle", "torch", "manifest", "catalogrow"])
    func replay(target: String) throws {
        let binary = Processes.productsDirectory.appendingPathComponent("PrefixFuzz").path
        let corpus = Processes.repositoryRoot + "/Fuzz/corpus/" + target
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(!inputs.isEmpty)
        let run = try Processes.run(binary, [corpus], environment: ["PREFIXKIT_FUZZ_TARGET": target])
        #expect(run.status == 0 && run.signal == nil, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("\(target): replayed \(inputs.count) input(s), none crashed"), "\(run.stdout)")
    }
}
