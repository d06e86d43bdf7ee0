/// Malformed 9P input: a typed error, never a trap.
///
/// When the frame's size was readable, `frameSize` says how many bytes the
/// whole frame spans, so a lenient reader can skip it and answer the tag
/// with Rerror instead of hanging up.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Kind: Hashable, Sendable {
        /// size[4] is below the 7 bytes of size[4] type[1] tag[2].
        case sizeTooSmall(UInt32)
        /// size[4] exceeds the negotiated msize.
        case sizeTooLarge(UInt32, limit: UInt32)
        /// A type byte that names no message of the protocol.
        case unknownType(UInt8)
        /// A message that may not travel in this direction (Terror, or an
        /// R-message sent to a server, or a T-message sent to a client).
        case unexpectedType(MessageType)
        /// A string's length runs past the end of the frame.
        case stringOverrun
        /// A string that is not UTF-8.
        case invalidUTF8
        /// A count or fixed field runs past the end of the frame.
        case countOverrun
        /// nwname or nwqid above 16.
        case tooManyWalkElements(Int)
        /// A stat's own size[2] disagrees with its n[2] or its contents.
        case badStatLength
        /// Bytes left in the frame after the message.
        case trailingGarbage(Int)
        /// A message the negotiated dialect does not have: a 9P2000.L message
        /// under 9P2000 or 9P2000.u, or Topen, Tcreate, Tstat, Twstat or
        /// Rerror under 9P2000.L (`ProtocolVersion.carries(_:)`).
        case notInDialect(MessageType, ProtocolVersion)
        /// An Rlerror (type 7, `size[4] Rlerror tag[2] ecode[4]`): the error
        /// reply of 9P2000.L, which a 9P2000 reader does not speak but
        /// recognises, so that a client can say what a 9P2000.L-only server
        /// (such as diod) answered: a Linux errno.
        case linuxError(errno: UInt32)
    }

    public var kind: Kind
    /// The message type, when the type byte was read.
    public var type: UInt8?
    /// The tag, when the frame was long enough to hold one.
    public var tag: Tag?
    /// The frame's whole length, when size[4] was sane.
    public var frameSize: Int?

    public init(_ kind: Kind, type: UInt8? = nil, tag: Tag? = nil, frameSize: Int? = nil) {
        self.kind = kind
        self.type = type
        self.tag = tag
        self.frameSize = frameSize
    }

    public var description: String {
        let what: String
        switch kind {
        case .sizeTooSmall(let n): what = "message size \(n) is below the minimum of 7"
        case .sizeTooLarge(let n, let limit): what = "message size \(n) exceeds msize \(limit)"
        case .unknownType(let t): what = "unknown message type \(t)"
        case .unexpectedType(let t): what = "unexpected message type \(t)"
        case .stringOverrun: what = "string runs past the end of the message"
        case .invalidUTF8: what = "string is not valid UTF-8"
        case .countOverrun: what = "field runs past the end of the message"
        case .tooManyWalkElements(let n): what = "\(n) walk elements exceed the maximum of 16"
        case .badStatLength: what = "bad stat length"
        case .trailingGarbage(let n): what = "\(n) bytes of trailing garbage"
        case .notInDialect(let t, let v): what = "\(t) is not a message of \(v.rawValue)"
        case .linuxError(let errno): what = "Rlerror (a 9P2000.L reply) with errno \(errno)"
        }
        if let tag { return "malformed 9P message (tag \(tag)): \(what)" }
        return "malformed 9P message: \(what)"
    }
}
