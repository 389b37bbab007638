/// A checkpoint's place in a training run: its step and what the trainer logged on the way.
public struct TrainingRecord: Sendable, Codable, Hashable {
    /// The trainer's `global_step`.
    public var globalStep: Int
    /// The epoch reached, if logged.
    public var epoch: Double?
    /// The run's log entries since the previous imported step, up to this one.
    public var log: [TrainerLogEntry]

    /// Creates a record.
    public init(globalStep: Int, epoch: Double?, log: [TrainerLogEntry]) {
        self.globalStep = globalStep
        self.epoch = epoch
        self.log = log
    }
}

/// One entry of an HF Trainer's `log_history`.
public struct TrainerLogEntry: Sendable, Codable, Hashable {
    /// The step it was logged at.
    public var step: Int
    /// The epoch, the training loss, the learning rate, if logged.
    public var epoch: Double?, loss: Double?, learningRate: Double?
    /// Every other number of the entry (`eval_loss`, `grad_norm`, ...), by its key.
    public var other: [String: Double]

    /// Creates an entry.
    public init(step: Int, epoch: Double?, loss: Double?, learningRate: Double?, other: [String: Double] = [:]) {
        self.step = step
        self.epoch = epoch
        self.loss = loss
        self.learningRate = learningRate
        self.other = other
    }
}
