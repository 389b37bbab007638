import PrefixCore
import Testing

@Suite("Flat key/value layout (PEFT)")
struct FlatKVLayoutTests {
    @Test("column ((2l + kv) * Hkv + h) * hd + e of row p holds layer l's K or V [h, p, e]")
    func indexing() throws {
        let (layers, heads, pn, hd) = (3, 2, 4, 5)
        let width = layers * 2 * heads * hd
        let flat = Tensor(shape: [pn, width], floats: (0..<(pn * width)).map(Float.init))
        let split = try FlatKVLayout.split(flat, layers: layers, kvHeads: heads, headDim: hd)
        #expect(split.count == layers)
        for l in 0..<layers {
            guard case .kv(let k, let v) = split[l] else { Issue.record("not KV"); continue }
            #expect(k.shape == [heads, pn, hd])
            for (kv, t) in [(0, k), (1, v)] {
                let values = t.floats()
                for h in 0..<heads {
                    for p in 0..<pn {
                        for e in 0..<hd {
                            #expect(values[(h * pn + p) * hd + e] == Float(p * width + ((2 * l + kv) * heads + h) * hd + e))
                        }
                    }
                }
            }
        }
        #expect(try FlatKVLayout.join(split) == flat)
    }

    @Test("split and join are lossless for 16-bit dtypes and refuse wrong widths")
    func losslessAndChecked() throws {
        let flat = Tensor(shape: [3, 16], floats: (0..<48).map { Float($0) * 0.37 }).converted(to: .bf16)
        #expect(try FlatKVLayout.join(FlatKVLayout.split(flat, layers: 2, kvHeads: 2, headDim: 2)) == flat)
        let error = #expect(throws: CoreError.self) { try FlatKVLayout.split(flat, layers: 3, kvHeads: 2, headDim: 2) }
        #expect(error?.description.contains("[Pn, 24]") == true)
    }

    @Test(
        "sizes whose product overflows, or that are not positive, are an error, not a trap",
        arguments: [(1 << 31, 1 << 31, 1 << 31), (2, 1 << 40, 1 << 40), (0, 2, 4), (2, -1, 4), (Int.max, 1, 1)])
    func overflowingSizes(layers: Int, heads: Int, headDim: Int) throws {
        let flat = Tensor(shape: [2, 8], floats: Array(repeating: 0, count: 16))
        let error = #expect(throws: CoreError.self) { try FlatKVLayout.split(flat, layers: layers, kvHeads: heads, headDim: headDim) }
        #expect(error?.code == .invalidShape)
    }
}
