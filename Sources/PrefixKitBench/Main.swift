import Foundation
import PrefixKit

/// `prefixkit-bench`: throughput figures, each printed beside a baseline measured in the same
/// run (ratios, since this machine's absolute speed varies from run to run).
@main
enum Main {
    static func main() {
        do {
            try run()
        } catch {
            FileHandle.standardError.write(Data("prefixkit-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var options = BenchOptions()
        while let argument = arguments.first {
            arguments.removeFirst()
            switch argument {
            case "--python": options.python = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--peft-python": options.peftPython = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--rounds": options.rounds = Int(arguments.isEmpty ? "" : arguments.removeFirst()) ?? 3
            case "--small": options.small = true
            case "--profile": options.profile = true
            case "--work": options.work = arguments.isEmpty ? options.work : arguments.removeFirst()
            case "store": options.sections.append("store")
            case "forward": options.sections.append("forward")
            case "convert": options.sections.append("convert")
            case "verify": options.sections.append("verify")
            case "verify-scale": options.sections.append("verify-scale")
            case "peft": options.sections.append("peft")
            case "families": options.sections.append("families")
            case "encoder": options.sections.append("encoder")
            case "seq2seq": options.sections.append("seq2seq")
            case "pickle": options.sections.append("pickle")
            case "diff": options.sections.append("diff")
            case "wheel": options.sections.append("wheel")
            case "--wheel": options.wheel = arguments.isEmpty ? nil : arguments.removeFirst()
            case "-h", "--help":
                print(
                    """
                    usage: prefixkit-bench [store] [forward] [convert] [verify] [peft] [families] [encoder] [seq2seq] [pickle] [diff] [wheel]
                                           [--rounds N] [--small] [--work DIR] [--python PATH] [--peft-python PATH] [--wheel PATH]
                      store   save/load of a ~1.2 GB f32 GPT-2-shaped model (24 layers, d=1024, d_ff=4096) vs raw
                              write+fsync and read of the same bytes and vs h5py, plus a prefix-only save (Pn=20)
                      forward the prefix-tuned forward pass (GPT-2 L=12 d=768, Pn=20, N=128, B=1, f32) vs NumPy on the
                              same weights (all rows, and skipping discarded work) and vs the sgemm peak; peak RSS of a
                              forward streaming a 24-layer d=1024 model from a store
                      convert import of an HF safetensors model into a store and export back, vs Python safetensors
                              load_file + writing the tensors + fsync, and load_file + save_file + fsync
                      verify  verification of a 12-layer d=768 checkpoint against a reference, time split by check,
                              beside one plain forward pass, in-process and as processes (prefixkit verify vs forward)
                      verify-scale prefixkit verify of the newest checkpoint and check --quick in stores of 1, 1,000 and
                              10,000 checkpoints of one run (100 and 1,000 with --small), beside prefixkit forward
                      peft    the forward (GPT-2 L=12 d=768, and a LLaMA-shaped L=12 d=768 GQA model; Pn=20, N=128, B=1,
                              f32, logits) vs HF transformers + PEFT on CPU PyTorch with the same thread count
                              (OPENBLAS_NUM_THREADS), in-process and as whole processes, beside the sgemm rate at the
                              model's own GEMM shapes; needs --peft-python (torch, transformers, peft); with --profile,
                              only PrefixKit's in-process forward, repeated, for perf record
                      families every registered family's forward at one size (L=4, d=768, N=128, KV prefix), in GFLOP/s
                              of the work its recipe defines, beside LLaMA's
                      encoder a BERT-base-shaped encoder (L=12, d=768, Pn=20, N=128, B=8) with a SEQ_CLS head vs HF
                              transformers + PEFT, in-process and as whole processes; needs --peft-python with
                              transformers 4.57.x (PEFT cannot run SEQ_CLS prefix tuning with 5.x)
                      seq2seq a T5-base-shaped encoder-decoder (L=12, d=768, Pn=20, source N=128, target 32, B=1) with
                              a PEFT SEQ_2_SEQ_LM adapter, both made by transformers + PEFT and imported, vs that peer,
                              in-process and as whole processes; needs --peft-python (torch, transformers, peft)
                      pickle  import of a ~1.25 GB pytorch_model.bin (torch.save) into a store vs torch.load(weights_only=True,
                              mmap=True) + writing the tensors + fsync; needs --peft-python (a Python with torch)
                      diff    prefixkit diff of two key/value checkpoints (L=12, Hkv=4, hd=128, Pn=512) per layer, part
                              and head vs NumPy on the same checkpoints exported as .npz, in-process and as whole
                              processes; needs --python (numpy)
                      wheel   the wheel (--wheel PATH, else the newest dist/*.whl): its size and the binary's, pip install
                              into a fresh venv vs installing numpy + h5py alone, and --version and verify of the
                              gpt2-tiny PEFT fixture from the wheel vs from the source build's release binary
                      --small small models, for a quick look
                    """)
                return
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
        if options.sections.isEmpty {
            options.sections = [
                "store", "forward", "convert", "verify", "verify-scale", "peft", "families", "encoder", "seq2seq", "pickle", "diff",
                "wheel",
            ]
        }
        if options.sections.contains("store") { try StoreBenchmark(options: options).run() }
        if options.sections.contains("forward") { try ForwardBenchmark(options: options).run() }
        if options.sections.contains("convert") { try ConvertBenchmark(options: options).run() }
        if options.sections.contains("verify") { try VerifyBenchmark(options: options).run() }
        if options.sections.contains("verify-scale") { try VerifyScaleBenchmark(options: options).run() }
        if options.sections.contains("peft") { try PeftBenchmark(options: options).run() }
        if options.sections.contains("families") { try FamilyBenchmark(options: options).run() }
        if options.sections.contains("encoder") { try EncoderBenchmark(options: options).run() }
        if options.sections.contains("seq2seq") { try Seq2SeqBenchmark(options: options).run() }
        if options.sections.contains("pickle") { try PickleBenchmark(options: options).run() }
        if options.sections.contains("diff") { try DiffBenchmark(options: options).run() }
        if options.sections.contains("wheel") { try WheelBenchmark(options: options).run() }
    }
}

struct BenchOptions {
    var python: String?
    /// A Python with torch, transformers and peft: the HF peer of the `peft` section.
    var peftPython: String?
    /// `peft --profile`: repeat PrefixKit's in-process forward only, for `perf record`.
    var profile = false
    var rounds = 3
    var small = false
    var work = "./bench-work"
    var sections: [String] = []
    /// The wheel the `wheel` section measures (default: the newest in `dist/`).
    var wheel: String?
}

extension BenchOptions {
    /// The ~1.2 GB GPT-2-shaped model (24 layers, d=1024) the I/O sections move; a small one with
    /// `--small`.
    var ioModel: ModelConfig {
        small
            ? ModelConfig.gpt2(layers: 4, width: 256, heads: 8, vocabSize: 4096, maxPositions: 1024)
            : ModelConfig.gpt2(layers: 24, width: 1024, heads: 16, vocabSize: 8192, maxPositions: 1024)
    }

    /// A fresh, empty work directory for one section (`--work` plus `suffix`), with `creating`
    /// made inside it; the section removes it when done.
    func freshWork(_ suffix: String = "", creating sub: String? = nil) throws -> String {
        let path = URL(fileURLWithPath: work).standardizedFileURL.path + suffix
        Leftovers.discard(path)
        try FileManager.default.createDirectory(atPath: path + (sub.map { "/" + $0 } ?? ""), withIntermediateDirectories: true)
        return path
    }
}
