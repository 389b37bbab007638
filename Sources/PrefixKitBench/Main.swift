import Foundation
import PrefixKit

/// `prefixkit-bench`: throughput figures, each printed beside a baseline measured in the same
/// run (ratios, since this machine's absolute speed varies from run to run).
@main
enum Main {
    static func main() throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var options = BenchOptions()
        while let argument = arguments.first {
            arguments.removeFirst()
            switch argument {
            case "--python": options.python = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--rounds": options.rounds = Int(arguments.isEmpty ? "" : arguments.removeFirst()) ?? 3
            case "--small": options.small = true
            case "--work": options.work = arguments.isEmpty ? options.work : arguments.removeFirst()
            case "store": options.sections.append("store")
            case "-h", "--help":
                print("""
                    usage: prefixkit-bench [store] [--rounds N] [--small] [--work DIR] [--python PATH]
                      store   save/load of a ~1.2 GB f32 GPT-2-shaped model (24 layers, d=1024, d_ff=4096) vs raw
                              write+fsync and read of the same bytes and vs h5py, plus a prefix-only save (Pn=20)
                      --small a 40 MB model, for a quick look
                    """)
                return
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
        if options.sections.isEmpty { options.sections = ["store"] }
        if options.sections.contains("store") { try StoreBenchmark(options: options).run() }
    }
}

struct BenchOptions {
    var python: String?
    var rounds = 3
    var small = false
    var work = "./bench-work"
    var sections: [String] = []
}
