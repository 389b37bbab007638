/// The dimensions of a row-major tensor.
///
/// A 0-rank shape (`[]`) holds one element; a shape with a zero dimension holds none. All size
/// arithmetic is overflow-checked, so a hostile header cannot make PrefixKit allocate or index
/// past what it asked for.
public struct Shape: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// The dimensions, outermost first.
    public let dimensions: [Int]

    /// Creates a shape, refusing negative dimensions and element counts that overflow `Int`.
    ///
    /// - Throws: ``CoreError`` with code `.invalidShape` or `.sizeOverflow`.
    public init(_ dimensions: [Int]) throws(CoreError) {
        var count = 1
        for d in dimensions {
            guard d >= 0 else {
                throw CoreError(.invalidShape, "negative dimension in shape \(dimensions)")
            }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw CoreError(.sizeOverflow, "shape \(dimensions) overflows the element count") }
            count = product
        }
        self.dimensions = dimensions
        self.elementCount = count
    }

    /// Creates a shape from a literal.
    ///
    /// - Precondition: the literal is a valid shape (non-negative, no overflow). Literals are
    ///   program text, never input.
    public init(arrayLiteral elements: Int...) {
        do { try self.init(elements) } catch { preconditionFailure("invalid shape literal: \(error)") }
    }

    /// The number of elements (1 for a 0-rank shape).
    public let elementCount: Int

    /// The number of dimensions.
    public var rank: Int { dimensions.count }

    /// A dimension by index.
    public subscript(index: Int) -> Int { dimensions[index] }

    /// The byte count of a tensor of this shape and `dtype`, overflow-checked.
    ///
    /// - Throws: ``CoreError`` with code `.sizeOverflow`.
    public func byteCount(of dtype: DType) throws(CoreError) -> Int {
        let (bytes, overflow) = elementCount.multipliedReportingOverflow(by: dtype.byteWidth)
        guard !overflow else { throw CoreError(.sizeOverflow, "shape \(dimensions) of \(dtype) overflows the byte count") }
        return bytes
    }

    /// `[2, 3]`: the text form used in the catalog and in messages.
    public var description: String { "[" + dimensions.map(String.init).joined(separator: ", ") + "]" }

    public init(from decoder: any Decoder) throws {
        let dims = try decoder.singleValueContainer().decode([Int].self)
        try self.init(dims)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(dimensions)
    }
}
