import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixFormats
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

/// Importing what a name's latest step already holds.
@Suite("Re-importing the same prefix")
struct ReimportTests {
    static let fixture = Processes.repositoryRoot + "/fixtures/peft/gpt2-tiny"

    static func importAdapter(_ store: Store, _ configure: (inout ImportOptions) -> Void = { _ in }) throws -> ImportReport {
        var options = ImportOptions()
        options.name = "run"
        options.base = fixture + "/base"
        configure(&options)
        return try Importer.run(store, source: fixture + "/adapter", options: options)
    }

    @Test("without --step, the same adapter again is a no-op that names the step holding it")
    func sameAdapter() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        let first = try Self.importAdapter(store)
        #expect(first.unchanged == nil && first.checkpoint?.reference == "run@0")
        let again = try Self.importAdapter(store)
        #expect(again.unchanged == true && again.bytesWritten == 0 && again.checkpoint?.reference == "run@0")
        #expect(try store.checkpoints().map(\.reference) == ["run@0"])
        // The same tags or parent are no change either.
        #expect(try Self.importAdapter(store) { $0.tags = first.checkpoint?.tags ?? [] }.unchanged == true)
        // With --step it is stored, as asked.
        let stepped = try Self.importAdapter(store) { $0.step = 7 }
        #expect(stepped.unchanged == nil && stepped.checkpoint?.reference == "run@7")
    }

    @Test("the same prefix with a different --tag or --parent is a usage error that suggests --step")
    func differentTagOrParent() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        _ = try Self.importAdapter(store) { $0.name = "other" }
        _ = try Self.importAdapter(store)
        for configure in [{ (o: inout ImportOptions) in o.tags = ["best"] }, { (o: inout ImportOptions) in o.parent = "other" }] {
            let error = #expect(throws: StorageError.self) { try Self.importAdapter(store, configure) }
            #expect(error?.code == .invalidArgument && error?.description.contains("pass --step N (the next free step is 1)") == true)
        }
        #expect(try store.checkpoints().count == 2)
    }

    @Test("a different prefix under the same name is the next step")
    func differentPrefix() throws {
        let dir = TemporaryDirectory()
        let store = try Store.create(at: dir.path + "/s")
        _ = try Self.importAdapter(store)
        var options = ImportOptions()
        options.name = "run"
        let hidden = try Importer.run(store, source: Self.fixture + "/hidden_prefix.npz", options: options)
        #expect(hidden.unchanged == nil && hidden.checkpoint?.reference == "run@1")
    }
}
