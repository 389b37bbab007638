import Foundation
public import PrefixCompute
public import PrefixCore
public import PrefixStore

/// A stored base's tensors as a ``PrefixCompute/TensorSource``: names and shapes come from the
/// catalog, bytes are mapped from the blobs one tensor at a time, on demand.
public struct StoredBaseTensors: TensorSource {
    /// The store.
    public let store: Store
    /// The base.
    public let base: BaseInfo
    /// Whether each load checks the tensor's digest before it returns.
    public let verify: Bool
    /// The digests being checked beside the caller's work, when the source was made with
    /// `.beside`: confirm them before trusting anything computed from these tensors. When BLAS
    /// runs on every core, they are checked on every core before the source is returned.
    public let backgroundDigests: BackgroundDigests?
    private let entries: [String: TensorEntry]

    /// How a stored base's digests are checked.
    public enum DigestCheck: Sendable {
        /// Not at all.
        case none
        /// Each tensor's, when it is loaded, before the load returns.
        case beforeUse
        /// Every tensor's, on a thread of their own from the start, while the caller computes
        /// (``backgroundDigests``).
        case beside
    }

    /// Lists the base's tensors (no bytes are read).
    ///
    /// - Throws: ``PrefixStore/StorageError`` on a catalog failure.
    public init(store: Store, base: BaseInfo, verify: Bool = false) throws {
        try self.init(store: store, base: base, digests: verify ? .beforeUse : .none)
    }

    /// Lists the base's tensors and, with `.beside`, starts checking their digests.
    ///
    /// - Throws: ``PrefixStore/StorageError`` on a catalog failure.
    public init(store: Store, base: BaseInfo, digests: DigestCheck) throws {
        self.store = store
        self.base = base
        let list = try store.tensorEntries(of: base)
        verify = digests == .beforeUse
        if digests == .beside {
            // Beside BLAS on the cores it leaves free; when it takes them all, hashing on every
            // core first costs less than both fighting for them.
            let cores = ProcessInfo.processInfo.activeProcessorCount
            let spare = cores - BLASKernels.threads
            let background = store.checkDigestsInBackground(list, owner: base.shortReference, threads: spare > 0 ? spare : cores)
            if spare <= 0 { try background.confirm() }
            backgroundDigests = background
        } else {
            backgroundDigests = nil
        }
        entries = Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }

    /// The dtype and shape of every stored tensor of the base, by name.
    public func tensorInfos() throws -> [String: TensorInfo] {
        entries.mapValues { TensorInfo(dtype: $0.dtype, shape: $0.shape) }
    }

    /// Reads a tensor of the base, every page mapped up front.
    public func load(_ name: String) throws -> Tensor {
        try load(name, populate: true)
    }

    /// Reads a tensor of which only a few rows will be used (embedding tables).
    public func loadSparse(_ name: String) throws -> Tensor {
        try load(name, populate: verify)
    }

    private func load(_ name: String, populate: Bool) throws -> Tensor {
        guard let entry = entries[name] else { throw ComputeError(.missingWeight, "the base has no such tensor", tensor: name) }
        return try store.load(entry, verify: verify, owner: base.shortReference, populate: populate)
    }
}

extension Store {
    /// The prefix of `checkpoint`, loaded one layer at a time when the stack asks for it.
    public func prefixSource(for checkpoint: CheckpointInfo, verify: Bool = false) -> PrefixSource {
        let store = self
        var source = PrefixSource(form: checkpoint.form, prefixLength: checkpoint.prefixLength, positions: checkpoint.positions) {
            layer in try store.prefix(of: checkpoint, layer: layer, verify: verify)
        }
        source.task = checkpoint.task
        source.head = { try store.head(of: checkpoint, verify: verify) }
        source.layout = checkpoint.layout
        source.storedLayers = checkpoint.numLayers
        source.encoderPositions = checkpoint.encoderPositions
        if checkpoint.encoderLayers > 0 {
            source.encoderLayer = { layer in try store.prefix(of: checkpoint, layer: layer, section: .encoder, verify: verify) }
        }
        if checkpoint.crossLayers > 0 {
            source.crossLayer = { layer in try store.prefix(of: checkpoint, layer: layer, section: .cross, verify: verify) }
        }
        return source
    }

    /// The prefix-tuned stack of a stored checkpoint on its base, streaming weights from the store.
    ///
    /// - Throws: ``PrefixStore/StorageError`` for catalog failures and
    ///   ``PrefixCompute/ComputeError`` when the base does not fit its config.
    public func stack(for checkpoint: CheckpointInfo, verify: Bool = false) throws -> PrefixStack {
        try stack(for: checkpoint, digests: verify ? .beforeUse : .none)
    }

    /// The prefix-tuned stack of a stored checkpoint, its base's digests checked as `digests`
    /// says (the prefix's, small, before use whenever they are checked at all). With
    /// `.beside`, confirm them (``PrefixStack/confirmStoredDigests()``) before trusting what the
    /// stack computed.
    ///
    /// - Throws: ``PrefixStore/StorageError`` for catalog failures and
    ///   ``PrefixCompute/ComputeError`` when the base does not fit its config.
    public func stack(for checkpoint: CheckpointInfo, digests: StoredBaseTensors.DigestCheck) throws -> PrefixStack {
        let base = try self.base("base:" + checkpoint.baseFingerprint)
        return try PrefixStack(
            config: base.config, weights: StoredBaseTensors(store: self, base: base, digests: digests),
            prefix: prefixSource(for: checkpoint, verify: digests != .none))
    }
}

extension PrefixStack {
    /// Waits for the digests of a stored base checked beside the computation
    /// (``PrefixStore/Store/stack(for:digests:)`` with `.beside`); nothing to wait for otherwise.
    ///
    /// - Throws: ``PrefixStore/StorageError`` `.digestMismatch` for a tensor whose bytes changed.
    public func confirmStoredDigests() throws(StorageError) {
        try (weightSource as? StoredBaseTensors)?.backgroundDigests?.confirm()
    }
}
