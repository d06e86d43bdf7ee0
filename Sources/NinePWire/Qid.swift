/// The type byte of a qid: the high 8 bits of a file's mode.
///
/// intro(5): "The type field represents the type of a file (directory,
/// etc.), represented as a bit vector corresponding to the high 8 bits of the
/// file's mode word."
public struct QidType: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let dir = QidType(rawValue: 0x80)
    public static let append = QidType(rawValue: 0x40)
    public static let exclusive = QidType(rawValue: 0x20)
    public static let mount = QidType(rawValue: 0x10)
    public static let auth = QidType(rawValue: 0x08)
    public static let tmp = QidType(rawValue: 0x04)
    /// 9P2000.u, 9p.h: "P9_QTSYMLINK = 0x02": a symbolic link.
    public static let symlink = QidType(rawValue: 0x02)
    /// 9P2000.u, 9p.h: "P9_QTLINK = 0x01": a hard link.
    public static let link = QidType(rawValue: 0x01)
    /// A plain file: no bits set.
    public static let file: QidType = []

    public var description: String {
        var s = ""
        if contains(.dir) { s += "d" }
        if contains(.append) { s += "a" }
        if contains(.exclusive) { s += "l" }
        if contains(.mount) { s += "m" }
        if contains(.auth) { s += "A" }
        if contains(.tmp) { s += "t" }
        if contains(.symlink) { s += "L" }
        if contains(.link) { s += "H" }
        return s
    }
}

/// The server's unique identification for a file.
///
/// intro(5): "The qid represents the server's unique identification for the
/// file being accessed: two files on the same server hierarchy are the same if
/// and only if their qids are the same." qid[13] is type[1] vers[4] path[8].
public struct Qid: Hashable, Sendable, CustomStringConvertible {
    public var type: QidType
    /// intro(5): "a version number for the file; typically, it is incremented
    /// every time a file is modified."
    public var version: UInt32
    /// intro(5): "an integer unique among all files in the hierarchy."
    public var path: UInt64

    @inlinable
    public init(type: QidType = .file, version: UInt32 = 0, path: UInt64) {
        self.type = type
        self.version = version
        self.path = path
    }

    public var isDirectory: Bool { type.contains(.dir) }

    /// Formatted like lib9p's fcallfmt: (path version type).
    public var description: String {
        "(\(String(path, radix: 16, uppercase: false)) \(version) '\(type)')"
    }

    /// The encoded length of a qid.
    public static let wireSize = 13
}
