import Foundation
import PrefixCore
import TestSupport
import Testing

@testable import PrefixFormats

/// `torch.save` archives read by the restricted unpickler, against the same tensors as NumPy
/// wrote them (`fixtures/pickle/views.pt` and `views.npz`, both from `generate_pickles.py`).
@Suite("PyTorch checkpoints")
struct TorchCheckpointTests {
    static let root = Processes.repositoryRoot + "/fixtures/pickle"

    @Test(
        "views of storages read bit-identically to NumPy's contiguous copies: transposed, bf16, offset slices, 0-d, empty, parameters, nested"
    )
    func views() throws {
        let checkpoint = try TorchCheckpoint(path: Self.root + "/views.pt")
        let expected = Dictionary(uniqueKeysWithValues: try NPZ.read(path: Self.root + "/views.npz").map { ($0.name, $0.value.tensor) })
        #expect(Set(checkpoint.entries.map(\.name)) == Set(expected.keys), "\(checkpoint.entries.map(\.name))")
        #expect(checkpoint.skipped == ["epoch"], "\(checkpoint.skipped)")
        for entry in checkpoint.entries {
            let ours = try checkpoint.tensor(entry)
            let theirs = try #require(expected[entry.name] ?? nil)
            #expect(ours.shape == theirs.shape, "\(entry.name): \(ours.shape) vs \(theirs.shape)")
            // bf16 was saved by NumPy as its raw uint16 bits.
            #expect(ours.withUnsafeBytes { Array($0) } == theirs.withUnsafeBytes { Array($0) }, "\(entry.name)")
            if entry.name == "model.bf16" { #expect(ours.dtype == .bf16) }
        }
        let transposed = try #require(checkpoint.entries.first { $0.name == "model.transposed" })
        #expect(!transposed.contiguous && transposed.shape == [5, 3])
        let slice = try #require(checkpoint.entries.first { $0.name == "model.slice" })
        #expect(slice.contiguous && slice.view.offset == 7)
    }

    @Test("a zip that is not a torch archive, and a file that is not a zip, are refused by name")
    func notTorch() throws {
        let dir = TemporaryDirectory()
        #expect(throws: FormatError.self) { try TorchCheckpoint(path: Self.root + "/views.npz") }
        do { _ = try TorchCheckpoint(path: Self.root + "/views.npz") } catch {
            #expect(error.message.contains("data.pkl") || error.message.contains("archive folder"), "\(error)")
        }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: dir.path + "/x.bin"))
        do {
            _ = try TorchCheckpoint(path: dir.path + "/x.bin")
            Issue.record("read a text file")
        } catch {
            #expect(error.code == .badMagic, "\(error)")
        }
    }

    @Test("protocol 4 and 5 pickles with frames, memoize and short strings unpickle; an unknown protocol is refused")
    func protocols() throws {
        let script = """
            import pickle, sys, collections
            d = collections.OrderedDict(a=1, b=[1.5, "x", None, True], c={"n": (1, 2)})
            for p in (2, 3, 4, 5):
                open(f"{sys.argv[1]}/p{p}.pkl", "wb").write(pickle.dumps(d, protocol=p))
            """
        let dir = TemporaryDirectory()
        let run = try Processes.python(script, [dir.path])
        #expect(run.status == 0, "\(run.stderr)")
        for p in 2...5 {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir.path)/p\(p).pkl")))
            let value = try RestrictedUnpickler.load(bytes, name: "p\(p)")
            guard case .dict(let top) = value, case .int(1)? = top["a"], case .list(let list)? = top["b"], list.items.count == 4,
                case .dict(let c)? = top["c"], case .tuple(let pair)? = c["n"], pair.items.count == 2
            else {
                Issue.record("protocol \(p): \(value)")
                continue
            }
            if case .float(let f) = list.items[0] { #expect(f == 1.5) } else { Issue.record("protocol \(p): no float") }
        }
        do {
            _ = try RestrictedUnpickler.load([0x80, 0x09, 0x2E], name: "p9")
            Issue.record("accepted protocol 9")
        } catch {
            #expect(error.code == .unsupportedVersion)
        }
    }
}
