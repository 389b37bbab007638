import COpenBLAS

/// Which of OpenBLAS's kernel sets runs the matrix products: OpenBLAS built for many CPUs
/// (Debian's is) picks one by CPU model when it loads, unless `OPENBLAS_CORETYPE` names one.
/// The matrix products' speed depends on it (AVX-512 `SkylakeX` or `Cooperlake` kernels run
/// about 1.7 times the AVX2 `Haswell` ones on the same CPU here), so reports name it.
public enum BLASKernels {
    /// The kernel set in use (`Haswell`, `SkylakeX`, `Cooperlake`, ...).
    public static var current: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// The threads OpenBLAS runs its products on (`OPENBLAS_NUM_THREADS`, else one per core).
    public static var threads: Int { Int(openblas_get_num_threads()) }
}
