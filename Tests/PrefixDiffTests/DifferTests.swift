import Foundation
import PrefixCompute
import PrefixConvert
import PrefixCore
import PrefixDiff
import PrefixRuntime
import PrefixStore
import TestSupport
import Testing

@Suite("Distances between tensors")
struct TensorDistanceTests {
    @Test("max abs, relative L2 against the larger norm, and cosine, on cases worked by hand")
    func handWorked() {
        let orthogonal = TensorDistance([1, 0], [0, 1])
        #expect(orthogonal.maxAbs == 1 && abs(orthogonal.relativeL2 - 2.0.squareRoot()) < 1e-15 && orthogonal.cosine == 0)
        let scaled = TensorDistance([3, 4], [6, 8])
        #expect(scaled.maxAbs == 4 && abs(scaled.relativeL2 - 0.5) < 1e-15 && abs((scaled.cosine ?? 0) - 1) < 1e-15)
        let zero = TensorDistance([3, 4], [0, 0])
        #expect(zero.relativeL2 == 1 && zero.cosine == nil && zero.maxAbs == 4)
        let same = TensorDistance([1, -2, 0], [1, -2, -0.0])
        #expect(same.isZero && same.relativeL2 == 0 && abs((same.cosine ?? 0) - 1) < 1e-15)
        #expect(TensorDistance([0, 0], [0, 0]).relativeL2 == 0)
        let nan = TensorDistance([.nan, 1], [1, 1])
        #expect(nan.maxAbs.isNaN && nan.relativeL2.isNaN)
        // Symmetric.
        #expect(TensorDistance([1, 2, 3], [2, 0, 5]) == TensorDistance([2, 0, 5], [1, 2, 3]))
    }

    @Test("f32 tensors read in place give what their f64 widening gives, per group and whole, tails included")
    func inPlace() throws {
        for (shape, groups) in [([3, 5, 7], 3), ([2, 4, 8], 2), ([1, 13], 1)] as [([Int], Int)] {
            let a = Builders.randomTensor(.f32, try Shape(shape), seed: 1), b = Builders.randomTensor(.f32, try Shape(shape), seed: 2)
            // Random bit patterns include NaNs; compare finite values only.
            let clean = { (t: Tensor) in Tensor(shape: t.shape, floats: t.floats().map { $0.isFinite ? $0 : 0 }) }
            let (x, y) = (clean(a), clean(b))
            let fast = TensorDistance.grouped(x, y, groups: groups), slow = TensorDistance.grouped(x.doubles(), y.doubles(), groups: groups)
            for (f, s) in zip([fast.whole] + fast.groups, [slow.whole] + slow.groups) {
                #expect(f.maxAbs == s.maxAbs && abs(f.relativeL2 - s.relativeL2) <= 1e-12 * max(1, s.relativeL2))
                #expect(abs((f.cosine ?? 0) - (s.cosine ?? 0)) <= 1e-12)
            }
        }
        let nan = TensorDistance.grouped(
            Tensor(shape: [2, 4], floats: [1, 2, 3, .nan, 5, 6, 7, 8]), Tensor(shape: [2, 4], floats: Array(repeating: 1, count: 8)),
            groups: 2)
        #expect(nan.whole.maxAbs.isNaN && nan.groups[0].relativeL2.isNaN && !nan.groups[1].maxAbs.isNaN)
    }

    @Test("NaN encodes as null in JSON and reads back")
    func json() throws {
        let data = try JSONEncoder().encode(TensorDistance([.nan], [1]))
        #expect(String(decoding: data, as: UTF8.self).contains("null"))
        #expect(try JSONDecoder().decode(TensorDistance.self, from: data).maxAbs.isNaN)
    }
}

@Suite("Comparing stored checkpoints")
struct DifferTests {
    static func store(_ dir: TemporaryDirectory) throws -> Store {
        let store = try Store.create(at: dir.path + "/s")
        try store.saveBase(Builders.tinyBase(), alias: "b", provenance: Provenance(sourceFormat: "test"))
        return store
    }

    @Test("per layer, part and head, the measures agree with NumPy's on the exported files")
    func againstNumPy() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        try store.saveCheckpoint(Builders.kvPrefix(seed: 3), as: CheckpointSpec(name: "x", step: 1, base: "b"))
        try store.saveCheckpoint(Builders.kvPrefix(seed: 4), as: CheckpointSpec(name: "y", step: 1, base: "b"))
        let diff = try Differ.diff(store, "x", "y")
        #expect(diff.sameBase && diff.space == "kv" && diff.conversions.isEmpty && diff.layers.count == 4)
        for name in ["x", "y"] { _ = try Exporter.run(store, reference: name, format: .npz, out: dir.path + "/\(name).npz") }
        let script = """
            import sys, json, numpy as np
            a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
            out = []
            for l in range(2):
                for part in ("key", "value"):
                    x = a[f"prefix.layer_{l:02d}.{part}"].astype(np.float64); y = b[f"prefix.layer_{l:02d}.{part}"].astype(np.float64)
                    def m(x, y):
                        return [float(np.max(np.abs(x - y))), float(np.linalg.norm(x - y) / max(np.linalg.norm(x), np.linalg.norm(y))),
                                float(np.sum(x * y) / (np.linalg.norm(x) * np.linalg.norm(y)))]
                    out.append([m(x, y)] + [m(x[h], y[h]) for h in range(x.shape[0])])
            print(json.dumps(out))
            """
        let result = try Processes.python(script, [dir.path + "/x.npz", dir.path + "/y.npz"])
        try #require(result.status == 0, "\(result.stderr)")
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[[Double]]])
        for (item, numpy) in zip(diff.layers, expected) {
            let measures = [item.distance] + item.heads
            #expect(measures.count == numpy.count)
            for (d, e) in zip(measures, numpy) {
                #expect(abs(d.maxAbs - e[0]) <= 1e-12 && abs(d.relativeL2 - e[1]) <= 1e-12 && abs((d.cosine ?? 9) - e[2]) <= 1e-12)
            }
        }
    }

    @Test("a hidden checkpoint and its exact key/value conversion are identical in key/value space")
    func acrossForms() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        let hidden = try store.saveCheckpoint(Builders.hiddenPrefix(seed: 5), as: CheckpointSpec(name: "h", step: 1, base: "b"))
        let kv = try store.stack(for: hidden.checkpoint).keyValuePrefix()
        try store.saveCheckpoint(kv, as: CheckpointSpec(name: "h-kv", step: 1, base: "b"))
        let diff = try Differ.diff(store, "h", "h-kv")
        #expect(diff.space == "kv" && diff.conversions.count == 1 && diff.conversions[0].hasPrefix("h@1: hidden -> key/value"))
        #expect(diff.identical && diff.layers.count == 4, "\(diff.layers.map(\.distance))")
        // Two hidden checkpoints are compared as hidden rows.
        try store.saveCheckpoint(Builders.hiddenPrefix(seed: 6), as: CheckpointSpec(name: "h", step: 2, base: "b"))
        let hiddenDiff = try Differ.diff(store, "h@1", "h@2")
        #expect(hiddenDiff.space == "hidden" && hiddenDiff.layers.map(\.part) == ["hidden", "hidden"] && !hiddenDiff.identical)
        #expect(hiddenDiff.layers.allSatisfy { $0.heads.isEmpty && $0.distance.relativeL2 > 0 })
    }

    @Test("different bases are reported, not compared; different prefix lengths are said so")
    func notComparable() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        try store.saveBase(Builders.tinyBase(seed: 9), alias: "other", provenance: Provenance(sourceFormat: "test"))
        try store.saveCheckpoint(Builders.kvPrefix(seed: 3), as: CheckpointSpec(name: "x", step: 1, base: "b"))
        try store.saveCheckpoint(Builders.kvPrefix(seed: 3), as: CheckpointSpec(name: "z", step: 1, base: "other"))
        try store.saveCheckpoint(Builders.kvPrefix(seed: 3, prefixLength: 6), as: CheckpointSpec(name: "long", step: 1, base: "b"))
        let bases = try Differ.diff(store, "x", "z")
        #expect(!bases.sameBase && bases.layers.isEmpty && bases.notes.first?.contains("different bases") == true && !bases.identical)
        let lengths = try Differ.diff(store, "x", "long")
        #expect(lengths.layers.isEmpty && lengths.notes.first?.contains("Pn 4, 6") == true)
    }

    @Test("--steps: each layer's distance from the first step and from the step before, agreeing with pairwise diffs")
    func steps() throws {
        let dir = TemporaryDirectory()
        let store = try Self.store(dir)
        for step in [10, 20, 30] {
            try store.saveCheckpoint(Builders.kvPrefix(seed: UInt64(step)), as: CheckpointSpec(name: "run", step: step, base: "b"))
        }
        let steps = try Differ.steps(store, name: "run")
        #expect(steps.steps == [10, 20, 30] && steps.tracks.count == 4)
        let first30 = try Differ.diff(store, "run@10", "run@30"), previous30 = try Differ.diff(store, "run@20", "run@30")
        for (track, (a, b)) in zip(steps.tracks, zip(first30.layers, previous30.layers)) {
            #expect(track.fromFirst[0] == 0 && track.fromPrevious[0] == nil)
            #expect(track.fromFirst[2] == a.distance.relativeL2 && track.fromPrevious[2] == b.distance.relativeL2)
        }
        let page = DiffPage.steps(steps)
        #expect(page.contains("<svg") && page.contains("layer 1") && page.contains(">step<"))
        try store.saveCheckpoint(Builders.kvPrefix(seed: 1), as: CheckpointSpec(name: "one", step: 1, base: "b"))
        let error = #expect(throws: StorageError.self) { try Differ.steps(store, name: "one") }
        #expect(error?.code == .invalidArgument)
    }
}
