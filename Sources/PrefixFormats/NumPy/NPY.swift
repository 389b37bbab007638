public import Foundation
public import PrefixCore

/// The contents of one `.npy` array.
public enum NPYValue: Sendable, Equatable {
    /// A numeric array.
    case tensor(Tensor)
    /// A Unicode string array (`<U`), as strings in C order.
    case strings([String], shape: [Int])

    /// The tensor, if numeric.
    public var tensor: Tensor? {
        if case .tensor(let t) = self { return t }
        return nil
    }

    /// The single string of a 0-d (or one-element) string array.
    public var string: String? {
        if case .strings(let values, _) = self, values.count == 1 { return values[0] }
        return nil
    }
}

/// Reading and writing NumPy `.npy` arrays (versions 1, 2 and 3).
///
/// ```swift
/// let value = try NPY.decode(data)          // .tensor(Tensor(f32, [2, 3]))
/// let bytes = try NPY.encode(tensor)
/// ```
public enum NPY {
    /// Decodes a whole `.npy` file held in memory.
    ///
    /// Fortran-ordered arrays are reordered to C order. Exactly the header's byte count must
    /// follow the header.
    ///
    /// - Throws: ``FormatError`` for every malformed or refused header (see ``NPYHeader/parse(_:)``)
    ///   and `.sizeMismatch` when the data is shorter or longer than the header says.
    public static func decode(_ data: Data) throws(FormatError) -> NPYValue {
        do {
            return try data.withUnsafeBytes { raw in try decode(raw) }
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(.io, "\(error)")
        }
    }

    /// Decodes a whole `.npy` file from raw bytes (see ``decode(_:)-(Data)``).
    public static func decode(_ raw: UnsafeRawBufferPointer) throws(FormatError) -> NPYValue {
        do {
            let header = try NPYHeader.parse(raw)
            let expected = try header.dataByteCount()
            let available = raw.count - header.dataOffset
            guard available == expected else {
                throw FormatError(
                    available < expected ? .truncated : .sizeMismatch,
                    ".npy data is \(available) bytes, the header's shape \(header.shape) needs \(expected)")
            }
            let body = UnsafeRawBufferPointer(rebasing: raw[header.dataOffset...])
            switch header.element {
            case .numeric(let dtype):
                var bytes = [UInt8](body)
                if header.fortranOrder && header.shape.count > 1 {
                    bytes = reorderFortran(bytes, shape: header.shape, width: dtype.byteWidth)
                }
                do {
                    let tensor = try Tensor(
                        dtype: dtype, shape: Shape(header.shape), bytes: dtype == .bool ? bytes.map { $0 == 0 ? 0 : 1 } : bytes)
                    return .tensor(tensor)
                } catch {
                    throw FormatError(.invalidShape, "\(error)")
                }
            case .unicode(let count):
                let n = header.shape.reduce(1, *)
                var strings: [String] = []
                strings.reserveCapacity(n)
                for i in 0..<n {
                    var scalars = String.UnicodeScalarView()
                    for j in 0..<count {
                        let code = body.loadUnaligned(fromByteOffset: (i * count + j) * 4, as: UInt32.self).littleEndian
                        if code == 0 { break }
                        guard let scalar = Unicode.Scalar(code) else {
                            throw FormatError(.malformedHeader, ".npy string holds an invalid code point \(code)")
                        }
                        scalars.append(scalar)
                    }
                    strings.append(String(scalars))
                }
                return .strings(strings, shape: header.shape)
            }
        }
    }

    /// Encodes a tensor as a version-1 `.npy` file, C order.
    ///
    /// - Throws: ``FormatError`` `.unsupportedDType` for bf16 and f8, which NumPy cannot hold.
    public static func encode(_ tensor: Tensor) throws(FormatError) -> Data {
        guard NPYHeader.descr(for: tensor.dtype) != nil else {
            throw FormatError(
                .unsupportedDType, "NumPy has no \(tensor.dtype) dtype: convert it to f32 (or store its bits as u16/u8) first")
        }
        var data = Data(
            NPYHeader(element: .numeric(tensor.dtype), fortranOrder: false, shape: tensor.shape.dimensions, dataOffset: 0).encoded())
        tensor.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// Encodes a 0-d Unicode string array (how NumPy saves `np.array("text")`).
    public static func encode(string: String) -> Data {
        let scalars = Array(string.unicodeScalars)
        var data = Data(NPYHeader(element: .unicode(count: max(scalars.count, 1)), fortranOrder: false, shape: [], dataOffset: 0).encoded())
        for scalar in scalars { withUnsafeBytes(of: scalar.value.littleEndian) { data.append(contentsOf: $0) } }
        if scalars.isEmpty { data.append(contentsOf: [0, 0, 0, 0]) }
        return data
    }

    /// Encodes any value.
    public static func encode(_ value: NPYValue) throws(FormatError) -> Data {
        switch value {
        case .tensor(let tensor): return try encode(tensor)
        case .strings(let values, _):
            guard values.count == 1 else { throw FormatError(.unsupportedDType, "only single strings are written") }
            return encode(string: values[0])
        }
    }

    /// The header of the `.npy` file at `path`, reading only its first bytes.
    ///
    /// - Throws: ``FormatError`` `.io`, `.notARegularFile`, and the errors of ``NPYHeader/parse(_:)``.
    public static func header(path: String) throws(FormatError) -> NPYHeader {
        try InputFile.requireRegular(path)
        guard let handle = FileHandle(forReadingAtPath: path) else { throw FormatError(.io, "cannot open file", path: path) }
        defer { try? handle.close() }
        let prefix = (try? handle.read(upToCount: NPYHeader.maxHeaderLength + 12)) ?? Data()
        do {
            return try prefix.withUnsafeBytes { raw in try NPYHeader.parse(raw) }
        } catch var error as FormatError {
            error.path = path
            throw error
        } catch {
            throw FormatError(.io, "\(error)", path: path)
        }
    }

    /// Reads a `.npy` file.
    ///
    /// - Throws: ``FormatError`` `.io` when it cannot be read, and the errors of ``decode(_:)-(Data)``
    ///   with the path attached.
    public static func read(path: String) throws(FormatError) -> NPYValue {
        try InputFile.requireRegular(path)
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe) } catch {
            throw FormatError(.io, "cannot read file: \(error.localizedDescription)", path: path)
        }
        do { return try decode(data) } catch {
            var error = error
            error.path = path
            throw error
        }
    }

    /// Fortran (column-major) bytes to C (row-major) order.
    static func reorderFortran(_ bytes: [UInt8], shape: [Int], width: Int) -> [UInt8] {
        let count = shape.reduce(1, *)
        var out = [UInt8](repeating: 0, count: bytes.count)
        var index = [Int](repeating: 0, count: shape.count)
        // Strides of the Fortran layout.
        var fstride = [Int](repeating: 1, count: shape.count)
        for i in 1..<shape.count { fstride[i] = fstride[i - 1] * shape[i - 1] }
        for c in 0..<count {
            var f = 0
            for i in 0..<shape.count { f += index[i] * fstride[i] }
            for b in 0..<width { out[c * width + b] = bytes[f * width + b] }
            var axis = shape.count - 1
            while axis >= 0 {
                index[axis] += 1
                if index[axis] < shape[axis] { break }
                index[axis] = 0
                axis -= 1
            }
        }
        return out
    }
}
