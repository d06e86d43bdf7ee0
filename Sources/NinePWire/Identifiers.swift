/// A 9P message tag: chosen by the client to match a reply to its request.
///
/// intro(5): "Each T-message has a tag field, chosen and used by the client to
/// identify the message. The reply to the message will have the same tag."
public struct Tag: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt16
    @inlinable public init(rawValue: UInt16) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// intro(5): "the client must use the tag NOTAG, defined as (ushort)~0 in
    /// <fcall.h>" for Tversion.
    public static let notag = Tag(0xFFFF)

    public static func < (a: Tag, b: Tag) -> Bool { a.rawValue < b.rawValue }
    public var description: String { self == .notag ? "NOTAG" : String(rawValue) }
}

/// A 9P fid: a 32-bit handle, chosen by the client, naming a file on the server.
public struct Fid: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt32
    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// attach(5): "If the client does not wish to authenticate the connection,
    /// or knows that authentication is not required, the afid field in the
    /// attach message should be set to NOFID, defined as (u32int)~0."
    public static let nofid = Fid(0xFFFF_FFFF)

    public static func < (a: Fid, b: Fid) -> Bool { a.rawValue < b.rawValue }
    public var description: String { self == .nofid ? "NOFID" : String(rawValue) }
}

/// Protocol-wide numbers.
public enum NineP {
    /// intro(5): "IOHDRSZ ... the number of message bytes, in addition to the
    /// data, in a read or write message": size[4] type[1] tag[2] fid[4]
    /// offset[8] count[4] = 23, rounded up to 24 as in <fcall.h>.
    public static let ioHeaderSize: UInt32 = 24

    /// The smallest frame: size[4] type[1] tag[2].
    public static let minimumMessageSize: UInt32 = 7

    /// walk(5): "To simplify the implementation of the servers, a maximum of
    /// sixteen name elements or qids may be packed in a single message."
    public static let maxWalkElements = 16

    /// The msize a client offers by default: 1 MiB of payload plus the header.
    public static let defaultMessageSize: UInt32 = 1 << 20 + ioHeaderSize

    /// version(5): the protocol version string of 9P2000.
    public static let version2000 = "9P2000"

    /// 9P2000.u and 9P2000.L: the n_uname (and stat n_uid, n_gid, n_muid)
    /// that says "no numeric id"; protocol.md: "n_uname, if not set to
    /// P9_NONUNAME (~0), is the uid of the user".
    public static let nonuname: UInt32 = 0xFFFF_FFFF
}
