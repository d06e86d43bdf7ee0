/// A directory entry: the machine-independent form of a file's metadata.
///
/// stat(5): "size[2] type[2] dev[4] qid[13] mode[4] atime[4] mtime[4]
/// length[8] name[s] uid[s] gid[s] muid[s]". The leading size counts the bytes
/// that follow it; Rstat and Twstat wrap the whole entry in a further n[2]
/// ("the stat field ... is a byte count followed by that many bytes").
public struct Stat: Hashable, Sendable, CustomStringConvertible {
    /// stat(5): "for kernel use".
    public var type: UInt16
    /// stat(5): "for kernel use".
    public var dev: UInt32
    public var qid: Qid
    public var mode: FileMode
    /// Last access time, seconds since the epoch.
    public var atime: UInt32
    /// Last modification time, seconds since the epoch.
    public var mtime: UInt32
    /// stat(5): "length of file in bytes" (directories report 0).
    public var length: UInt64
    /// stat(5): "last element of path"; "/" for the root of a tree.
    public var name: String
    public var uid: String
    public var gid: String
    /// stat(5): "name of the user who last modified the file".
    public var muid: String

    @inlinable
    public init(
        type: UInt16 = 0, dev: UInt32 = 0, qid: Qid, mode: FileMode,
        atime: UInt32 = 0, mtime: UInt32 = 0, length: UInt64 = 0,
        name: String, uid: String = "", gid: String = "", muid: String = ""
    ) {
        self.type = type
        self.dev = dev
        self.qid = qid
        self.mode = mode
        self.atime = atime
        self.mtime = mtime
        self.length = length
        self.name = name
        self.uid = uid
        self.gid = gid
        self.muid = muid
    }

    /// stat(5): "a wstat request ... can avoid modifying some properties of the
    /// file by providing explicit 'don't touch' values in the stat data that is
    /// sent: zero-length strings for text values and the maximum unsigned value
    /// of appropriate size for integral values."
    public static let dontTouch = Stat(
        type: .max, dev: .max, qid: Qid(type: QidType(rawValue: .max), version: .max, path: .max),
        mode: FileMode(rawValue: .max), atime: .max, mtime: .max, length: .max,
        name: "", uid: "", gid: "", muid: ""
    )

    /// stat(5): "if all the elements of the directory entry in a Twstat message
    /// are 'don't touch' values, the server may interpret it as a request to
    /// guarantee that the contents of the associated file are committed to
    /// stable storage before the Rwstat message is returned."
    public var isAllDontTouch: Bool { self == Stat.dontTouch }

    public var changesName: Bool { !name.isEmpty }
    public var changesMode: Bool { mode.rawValue != .max }
    public var changesLength: Bool { length != .max }
    public var changesMtime: Bool { mtime != .max }
    public var changesAtime: Bool { atime != .max }
    public var changesGid: Bool { !gid.isEmpty }
    public var changesUid: Bool { !uid.isEmpty }

    /// The bytes between an entry's size[2] and its name: type[2] dev[4]
    /// qid[13] mode[4] atime[4] mtime[4] length[8].
    public static let fixedPrefixSize = 2 + 4 + Qid.wireSize + 4 + 4 + 4 + 8

    /// The encoded size of this entry, including its own leading size[2].
    public var wireSize: Int {
        2 + Self.fixedPrefixSize
            + 2 + name.ninePByteCount + 2 + uid.ninePByteCount + 2 + gid.ninePByteCount + 2 + muid.ninePByteCount
    }

    public var description: String {
        "'\(name)' '\(uid)' '\(gid)' '\(muid)' q \(qid) m \(String(mode.rawValue, radix: 8)) at \(atime) mt \(mtime) l \(length) t \(type) d \(dev)"
    }
}
