/// A directory entry: the machine-independent form of a file's metadata.
///
/// stat(5): "size[2] type[2] dev[4] qid[13] mode[4] atime[4] mtime[4]
/// length[8] name[s] uid[s] gid[s] muid[s]". The leading size counts the bytes
/// that follow it; Rstat and Twstat wrap the whole entry in a further n[2]
/// ("the stat field ... is a byte count followed by that many bytes").
///
/// 9P2000.u appends four fields (the 9p2000.u draft: "There are four new
/// fields in the stat structure"): extension[s] n_uid[4] n_gid[4] n_muid[4].
/// Under 9P2000 they are neither sent nor read; decoded, they take their
/// defaults ("" and `NineP.nonuname`), as Linux's p9stat_read leaves them.
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
    /// 9P2000.u: "For DSYMLINK files, the string is the target of the link.
    /// For DMDEVICE files, the string is "b 1 2" for a block device with
    /// major 1, minor 2. For normal files, this string is empty."
    public var `extension`: String
    /// 9P2000.u: "numeric id of the user who owns the file".
    public var nUid: UInt32
    /// 9P2000.u: "numeric id of the group associated with the file".
    public var nGid: UInt32
    /// 9P2000.u: "numeric id of the user who last modified the file".
    public var nMuid: UInt32

    @inlinable
    public init(
        type: UInt16 = 0, dev: UInt32 = 0, qid: Qid, mode: FileMode,
        atime: UInt32 = 0, mtime: UInt32 = 0, length: UInt64 = 0,
        name: String, uid: String = "", gid: String = "", muid: String = "",
        extension: String = "", nUid: UInt32 = NineP.nonuname, nGid: UInt32 = NineP.nonuname,
        nMuid: UInt32 = NineP.nonuname
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
        self.extension = `extension`
        self.nUid = nUid
        self.nGid = nGid
        self.nMuid = nMuid
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

    /// The encoded size of this entry under 9P2000, including its own
    /// leading size[2].
    public var wireSize: Int { wireSize(for: .ninep2000) }

    /// The encoded size of this entry in `version`, including its own leading size[2].
    public func wireSize(for version: ProtocolVersion) -> Int {
        let plain = 2 + Self.fixedPrefixSize
            + 2 + name.ninePByteCount + 2 + uid.ninePByteCount + 2 + gid.ninePByteCount + 2 + muid.ninePByteCount
        return version.hasStatExtension ? plain + 2 + `extension`.ninePByteCount + 12 : plain
    }

    public var description: String {
        var s = "'\(name)' '\(uid)' '\(gid)' '\(muid)' q \(qid) m \(String(mode.rawValue, radix: 8)) at \(atime) mt \(mtime) l \(length) t \(type) d \(dev)"
        if !`extension`.isEmpty { s += " ext '\(`extension`)'" }
        if nUid != NineP.nonuname || nGid != NineP.nonuname || nMuid != NineP.nonuname {
            s += " nuid \(nUid) ngid \(nGid) nmuid \(nMuid)"
        }
        return s
    }
}
