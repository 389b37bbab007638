import Foundation
import PrefixCore

/// A pickle reader that never executes code: it interprets the opcodes of protocols 2 to 5 (and
/// the protocol-0 container opcodes they still use) into ``PickleValue``s, admits only the
/// globals PyTorch's weights-only unpickler admits for a state dict, and refuses everything else
/// by name before anything is built from it.
///
/// Bounded: memo entries, stack size, marks, nesting depth, container items, and every length
/// field against the bytes that remain.
public struct RestrictedUnpickler {
    /// Most memo entries.
    public static let maxMemo = 1 << 20
    /// Most values on the stack at once, and open marks.
    public static let maxStack = 1 << 20, maxMarks = 4096
    /// The deepest nesting of containers.
    public static let maxDepth = 64
    /// Most items in all containers together.
    public static let maxItems = 1 << 24

    let bytes: [UInt8]
    let name: String
    var position = 0
    var stack: [PickleValue] = []
    var marks: [Int] = []
    var memo: [Int: PickleValue] = [:]
    var items = 0

    /// Interprets `bytes` (the archive member `name`, named in errors) and returns the pickled object.
    ///
    /// - Throws: ``FormatError`` `.pickleRefused` naming the refused global or opcode, and
    ///   `.malformedHeader` / `.truncated` / `.outOfRange` for a malformed or oversized stream.
    public static func load(_ bytes: [UInt8], name: String) throws(FormatError) -> PickleValue {
        var machine = RestrictedUnpickler(bytes: bytes, name: name)
        return try machine.run()
    }

    func fail(_ code: FormatError.Code, _ message: String) -> FormatError {
        FormatError(code, "\(message) (at byte \(max(0, position - 1)))", member: name)
    }

    mutating func byte() throws(FormatError) -> UInt8 {
        guard position < bytes.count else { throw fail(.truncated, "the pickle ends before STOP") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func take(_ count: Int) throws(FormatError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else {
            throw fail(.outOfRange, "a length of \(count) bytes runs past the pickle's end (\(bytes.count - position) left)")
        }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func unsigned(_ width: Int) throws(FormatError) -> UInt64 {
        var value: UInt64 = 0
        for (i, b) in try take(width).enumerated() { value |= UInt64(b) << (8 * UInt64(i)) }
        return value
    }

    mutating func length(_ width: Int) throws(FormatError) -> Int {
        let value = try unsigned(width)
        guard value <= UInt64(bytes.count - position) else {
            throw fail(.outOfRange, "a length of \(value) bytes runs past the pickle's end (\(bytes.count - position) left)")
        }
        return Int(value)
    }

    mutating func line() throws(FormatError) -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A), end - position <= 256 else {
            throw fail(.malformedHeader, "a text argument without a newline within 256 bytes")
        }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    mutating func push(_ value: PickleValue) throws(FormatError) {
        guard stack.count < Self.maxStack else { throw fail(.outOfRange, "more than \(Self.maxStack) values on the stack") }
        guard value.depth <= Self.maxDepth else { throw fail(.nestingTooDeep, "containers nested deeper than \(Self.maxDepth)") }
        stack.append(value)
    }

    func top() throws(FormatError) -> PickleValue {
        guard let value = stack.last, stack.count > (marks.last ?? 0) else { throw fail(.malformedHeader, "memoizes an empty stack") }
        return value
    }

    mutating func pop() throws(FormatError) -> PickleValue {
        guard let value = stack.popLast(), stack.count >= (marks.last ?? 0) else {
            throw fail(.malformedHeader, "pops an empty stack")
        }
        return value
    }

    /// The values since the last mark, removing the mark.
    mutating func popMark() throws(FormatError) -> [PickleValue] {
        guard let mark = marks.popLast(), mark <= stack.count else { throw fail(.malformedHeader, "no mark to pop to") }
        defer { stack.removeSubrange(mark...) }
        return Array(stack[mark...])
    }

    mutating func memoize(_ index: Int, _ value: PickleValue) throws(FormatError) {
        guard memo[index] != nil || memo.count < Self.maxMemo else { throw fail(.outOfRange, "more than \(Self.maxMemo) memo entries") }
        memo[index] = value
    }

    mutating func recall(_ index: Int) throws(FormatError) -> PickleValue {
        guard let value = memo[index] else { throw fail(.malformedHeader, "memo entry \(index) was never stored") }
        return value
    }

    /// Counts `added` container items against the bound.
    mutating func count(_ added: Int) throws(FormatError) {
        items += added
        guard items <= Self.maxItems else { throw fail(.outOfRange, "more than \(Self.maxItems) container items") }
    }

    /// A child about to go into `container`: seals it, refuses `container` itself. (A tuple's
    /// own containers were sealed when it was built, so it cannot hold an unsealed one.)
    func nest(_ child: PickleValue, into container: AnyObject?) throws(FormatError) {
        switch child {
        case .list(let list):
            guard list !== container else { throw fail(.pickleRefused, "a list that contains itself") }
            list.sealed = true
        case .dict(let dict):
            guard dict !== container else { throw fail(.pickleRefused, "a dictionary that contains itself") }
            dict.sealed = true
        default: break
        }
    }

    /// A tuple of `items`, its containers sealed.
    mutating func tuple(_ items: [PickleValue]) throws(FormatError) -> PickleValue {
        try count(items.count)
        for item in items { try nest(item, into: nil) }
        return .tuple(PickleTuple(items))
    }

    mutating func append(_ values: [PickleValue], to target: PickleValue) throws(FormatError) {
        guard case .list(let list) = target else { throw fail(.pickleRefused, "APPEND to something that is not a list") }
        guard !list.sealed else { throw fail(.pickleRefused, "a list changed after it was put in another container") }
        try count(values.count)
        for value in values {
            try nest(value, into: list)
            list.depth = max(list.depth, value.depth + 1)
        }
        guard list.depth <= Self.maxDepth else { throw fail(.nestingTooDeep, "containers nested deeper than \(Self.maxDepth)") }
        list.items += values
    }

    mutating func setItems(_ pairs: [PickleValue], in target: PickleValue) throws(FormatError) {
        guard case .dict(let dict) = target else { throw fail(.pickleRefused, "SETITEM on something that is not a dictionary") }
        guard !dict.sealed else { throw fail(.pickleRefused, "a dictionary changed after it was put in another container") }
        guard pairs.count % 2 == 0 else { throw fail(.malformedHeader, "SETITEMS with an odd number of values") }
        try count(pairs.count / 2)
        for i in stride(from: 0, to: pairs.count, by: 2) {
            let (key, value) = (pairs[i], pairs[i + 1])
            switch key {
            case .string, .int, .bool, .none, .float: break
            default: throw fail(.pickleRefused, "a dictionary key that is not a string or number")
            }
            try nest(value, into: dict)
            dict.depth = max(dict.depth, value.depth + 1)
            if let existing = dict.entries.firstIndex(where: { Self.sameKey($0.key, key) }) {
                dict.entries[existing].value = value
            } else {
                dict.entries.append((key, value))
            }
        }
        guard dict.depth <= Self.maxDepth else { throw fail(.nestingTooDeep, "containers nested deeper than \(Self.maxDepth)") }
    }

    static func sameKey(_ a: PickleValue, _ b: PickleValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        case (.none, .none): true
        default: false
        }
    }

    mutating func global(module: String, name: String) throws(FormatError) -> PickleValue {
        guard let allowed = PickleGlobal.named(module: module, name: name) else {
            throw fail(
                .pickleRefused,
                "refused global \(module).\(name): only collections.OrderedDict, torch._utils' tensor and parameter rebuild functions and torch storage types are admitted"
            )
        }
        return .global(allowed)
    }

    /// REDUCE: an allowed callable on its arguments.
    func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws(FormatError) -> PickleValue {
        guard case .global(let function) = callable else {
            throw fail(.pickleRefused, "REDUCE of something that is not an admitted global")
        }
        guard case .tuple(let tuple) = arguments else { throw fail(.pickleRefused, "REDUCE with arguments that are not a tuple") }
        let args = tuple.items
        switch function {
        case .orderedDict:
            guard args.isEmpty else { throw fail(.pickleRefused, "OrderedDict called with arguments") }
            return .dict(PickleDict())
        case .rebuildTensorV2, .rebuildTensor:
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1] else {
                throw fail(.pickleRefused, "_rebuild_tensor_v2 with arguments other than (storage, offset, size, stride, ...)")
            }
            let shape = try integers(args[2], what: "size"), strides = try integers(args[3], what: "stride")
            guard shape.count == strides.count, shape.count <= 8, offset >= 0 else {
                throw fail(.invalidShape, "a tensor's size \(shape), stride \(strides) and offset \(offset) do not describe a view")
            }
            return .tensor(TorchTensorReference(storage: storage, offset: Int(offset), shape: shape, strides: strides))
        case .rebuildParameter:
            guard let first = args.first, case .tensor = first else {
                throw fail(.pickleRefused, "_rebuild_parameter of something that is not a tensor")
            }
            return first
        case .storageType:
            throw fail(.pickleRefused, "a storage type called directly (storages come only from persistent ids)")
        }
    }

    func integers(_ value: PickleValue, what: String) throws(FormatError) -> [Int] {
        guard case .tuple(let tuple) = value else { throw fail(.pickleRefused, "a tensor \(what) that is not a tuple") }
        return try tuple.items.map { item throws(FormatError) in
            guard case .int(let v) = item, v >= 0, v <= Int64(Int32.max) else {
                throw fail(.invalidShape, "a tensor \(what) entry that is not a non-negative integer below 2^31")
            }
            return Int(v)
        }
    }

    /// BINPERSID: `('storage', torch.XStorage, key, location, numel)`.
    func persistent(_ id: PickleValue) throws(FormatError) -> PickleValue {
        guard case .tuple(let tuple) = id, case let parts = tuple.items, parts.count == 5, parts[0].string == "storage",
            case .global(.storageType(let dtype)) = parts[1],
            let key = parts[2].string, parts[3].string != nil, case .int(let count) = parts[4], count >= 0, count <= Int64(1) << 40
        else {
            throw fail(.pickleRefused, "a persistent id other than ('storage', torch.<Type>Storage, key, location, numel)")
        }
        guard !key.isEmpty, key.count <= 64, key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw fail(.unsafeName, "a storage key '\(key.prefix(80))' that is not a plain archive member name")
        }
        return .storage(TorchStorageReference(key: key, dtype: dtype, count: Int(count)))
    }

    mutating func run() throws(FormatError) -> PickleValue {
        while true {
            let op = try byte()
            switch op {
            case 0x80:  // PROTO
                let version = try byte()
                guard (2...5).contains(version) else { throw fail(.unsupportedVersion, "pickle protocol \(version); 2 to 5 are read") }
            case 0x95:  // FRAME
                _ = try unsigned(8)
            case 0x2E:  // STOP
                let result = try pop()
                return result
            case 0x28:
                marks.append(stack.count)  // MARK
                guard marks.count <= Self.maxMarks else { throw fail(.nestingTooDeep, "more than \(Self.maxMarks) open marks") }
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32:  // DUP
                guard let top = stack.last else { throw fail(.malformedHeader, "DUP of an empty stack") }
                try push(top)
            case 0x4E: try push(.none)  // NONE
            case 0x88: try push(.bool(true))  // NEWTRUE
            case 0x89: try push(.bool(false))  // NEWFALSE
            case 0x4A: try push(.int(Int64(Int32(truncatingIfNeeded: UInt32(try unsigned(4))))))  // BININT
            case 0x4B: try push(.int(Int64(try byte())))  // BININT1
            case 0x4D: try push(.int(Int64(try unsigned(2))))  // BININT2
            case 0x8A, 0x8B:  // LONG1, LONG4
                let n = op == 0x8A ? Int(try byte()) : try length(4)
                guard n <= 8 else { throw fail(.outOfRange, "an integer of \(n) bytes; at most 8 are read") }
                let raw = try take(n)
                var value: Int64 = 0
                for (i, b) in raw.enumerated() { value |= Int64(b) << (8 * Int64(i)) }
                if n > 0, n < 8, let top = raw.last, top & 0x80 != 0 { value -= Int64(1) << (8 * Int64(n)) }
                try push(.int(value))
            case 0x49:  // INT (text)
                let text = try line()
                guard let value = Int64(text) ?? (text == "00" ? 0 : text == "01" ? 1 : nil) else {
                    throw fail(.malformedHeader, "INT '\(text.prefix(40))'")
                }
                try push(text == "00" || text == "01" ? .bool(text == "01") : .int(value))
            case 0x47:  // BINFLOAT: big-endian
                let bits = try take(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
                try push(.float(Double(bitPattern: UInt64(bigEndian: bits))))
            case 0x58, 0x8C, 0x8D:  // BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
                let n = try length(op == 0x58 ? 4 : op == 0x8C ? 1 : 8)
                guard let text = String(validating: try take(n), as: UTF8.self) else { throw fail(.notUTF8, "a string that is not UTF-8") }
                try push(.string(text))
            case 0x55, 0x54:  // SHORT_BINSTRING, BINSTRING (protocol 1 byte strings)
                let n = try length(op == 0x55 ? 1 : 4)
                try push(.string(String(decoding: try take(n), as: UTF8.self)))
            case 0x43, 0x42, 0x8E, 0x96:  // SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8
                let n = try length(op == 0x43 ? 1 : op == 0x42 ? 4 : 8)
                try push(.bytes(Array(try take(n))))
            case 0x29: try push(try tuple([]))  // EMPTY_TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                let n = Int(op - 0x84)
                guard stack.count - n >= (marks.last ?? 0) else { throw fail(.malformedHeader, "TUPLE\(n) with fewer values on the stack") }
                let items = Array(stack.suffix(n))
                stack.removeLast(n)
                try push(try tuple(items))
            case 0x74:  // TUPLE
                try push(try tuple(try popMark()))
            case 0x5D: try push(.list(PickleList()))  // EMPTY_LIST
            case 0x6C:  // LIST
                let items = try popMark()
                let list = PickleList()
                try append(items, to: .list(list))
                try push(.list(list))
            case 0x7D: try push(.dict(PickleDict()))  // EMPTY_DICT
            case 0x64:  // DICT
                let items = try popMark()
                let dict = PickleDict()
                try setItems(items, in: .dict(dict))
                try push(.dict(dict))
            case 0x8F: try push(.list(PickleList()))  // EMPTY_SET (held as a list)
            case 0x90:  // ADDITEMS
                let items = try popMark()
                guard let target = stack.last else { throw fail(.malformedHeader, "ADDITEMS without a set") }
                try append(items, to: target)
            case 0x91:  // FROZENSET
                try push(try tuple(try popMark()))
            case 0x61:  // APPEND
                let value = try pop()
                guard let target = stack.last else { throw fail(.malformedHeader, "APPEND without a list") }
                try append([value], to: target)
            case 0x65:  // APPENDS
                let values = try popMark()
                guard let target = stack.last else { throw fail(.malformedHeader, "APPENDS without a list") }
                try append(values, to: target)
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                guard let target = stack.last else { throw fail(.malformedHeader, "SETITEM without a dictionary") }
                try setItems([key, value], in: target)
            case 0x75:  // SETITEMS
                let values = try popMark()
                guard let target = stack.last else { throw fail(.malformedHeader, "SETITEMS without a dictionary") }
                try setItems(values, in: target)
            case 0x71: try memoize(Int(try byte()), try top())  // BINPUT
            case 0x72: try memoize(Int(try unsigned(4)), try top())  // LONG_BINPUT
            case 0x94: try memoize(memo.count, try top())  // MEMOIZE
            case 0x70:  // PUT (text)
                guard let index = Int(try line()), index >= 0 else { throw fail(.malformedHeader, "PUT with a bad index") }
                try memoize(index, try top())
            case 0x68: try push(try recall(Int(try byte())))  // BINGET
            case 0x6A: try push(try recall(Int(try unsigned(4))))  // LONG_BINGET
            case 0x67:  // GET (text)
                guard let index = Int(try line()) else { throw fail(.malformedHeader, "GET with a bad index") }
                try push(try recall(index))
            case 0x63:  // GLOBAL
                let module = try line(), name = try line()
                try push(try global(module: module, name: name))
            case 0x93:  // STACK_GLOBAL
                let name = try pop(), module = try pop()
                guard let m = module.string, let n = name.string else { throw fail(.pickleRefused, "STACK_GLOBAL of non-strings") }
                try push(try global(module: m, name: n))
            case 0x52:  // REDUCE
                let arguments = try pop(), callable = try pop()
                try push(try reduce(callable, arguments))
            case 0x51:  // BINPERSID
                try push(try persistent(try pop()))
            case 0x62:  // BUILD
                let state = try pop()
                guard case .dict(let target)? = stack.last else {
                    throw fail(
                        .pickleRefused, "BUILD on something that is not a dictionary (only an OrderedDict's attributes are admitted)")
                }
                // An OrderedDict's attributes (the state dict's `_metadata`): read, not applied.
                guard case .dict = state else { throw fail(.pickleRefused, "BUILD with a state that is not a dictionary") }
                try nest(state, into: target)
            case 0x81, 0x92: throw fail(.pickleRefused, "refused NEWOBJ: no class is ever instantiated")
            case 0x69: throw fail(.pickleRefused, "refused INST: no class is ever instantiated")
            case 0x6F: throw fail(.pickleRefused, "refused OBJ: no class is ever instantiated")
            case 0x82, 0x83, 0x84: throw fail(.pickleRefused, "refused EXT: the extension registry is never consulted")
            case 0x50: throw fail(.pickleRefused, "refused PERSID (text): only binary storage ids are read")
            case 0x97, 0x98: throw fail(.pickleRefused, "refused out-of-band buffers (NEXT_BUFFER / READONLY_BUFFER)")
            default:
                throw fail(.pickleRefused, "refused opcode 0x\(String(op, radix: 16)) ('\(Character(Unicode.Scalar(op)))')")
            }
        }
    }
}
