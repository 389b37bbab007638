import COpenBLAS
import Dispatch

/// Work spread over the threads BLAS is allowed (`OPENBLAS_NUM_THREADS`), for the parts of a
/// forward pass that are not one large matrix product.
enum Parallel {
    /// The number of threads BLAS runs with.
    static var threads: Int { Int(openblas_get_num_threads()) }

    /// Runs `body(i)` for `i` in `0 ..< count`, on up to ``threads`` threads when there is more
    /// than one item and more than one thread; BLAS runs single-threaded meanwhile, so that the
    /// threads do not oversubscribe the cores. `body` must only write what item `i` owns.
    static func forEach(_ count: Int, _ body: (Int) -> Void) {
        let threads = self.threads
        guard count > 1, threads > 1 else {
            for i in 0..<count { body(i) }
            return
        }
        openblas_set_num_threads(1)
        defer { openblas_set_num_threads(Int32(threads)) }
        withoutActuallyEscaping(body) { body in
            // Safety: concurrentPerform returns only after every iteration has run.
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: count) { i in work(i) }
        }
    }

    /// `body` on contiguous slices of `values` (whole rows of `width`), one per thread, for large
    /// elementwise or row-wise passes; small ones run in one piece.
    static func slices<T>(_ values: UnsafeMutableBufferPointer<T>, width: Int, _ body: (UnsafeMutableBufferPointer<T>) -> Void) {
        let threads = self.threads, rows = width > 0 ? values.count / width : 0
        guard threads > 1, values.count >= 1 << 20, rows >= threads else {
            body(values)
            return
        }
        nonisolated(unsafe) let all = values
        forEach(threads) { t in
            let (low, high) = (rows * t / threads, rows * (t + 1) / threads)
            body(UnsafeMutableBufferPointer(rebasing: all[(low * width)..<(high * width)]))
        }
    }
}
