public import NIOCore

// One value type per 9P2000 message (intro(5) and section 5 of the Plan 9
// manual). Field names follow the manual; the tag lives in `Fcall`.

/// version(5): "size[4] Tversion tag[2] msize[4] version[s]"
public struct Tversion: Hashable, Sendable {
    public var msize: UInt32
    public var version: String
    public init(msize: UInt32, version: String) { self.msize = msize; self.version = version }
}
/// version(5): "size[4] Rversion tag[2] msize[4] version[s]"
public struct Rversion: Hashable, Sendable {
    public var msize: UInt32
    public var version: String
    public init(msize: UInt32, version: String) { self.msize = msize; self.version = version }
}
/// attach(5): "size[4] Tauth tag[2] afid[4] uname[s] aname[s]"
public struct Tauth: Hashable, Sendable {
    public var afid: Fid
    public var uname: String
    public var aname: String
    public init(afid: Fid, uname: String, aname: String) { self.afid = afid; self.uname = uname; self.aname = aname }
}
/// attach(5): "size[4] Rauth tag[2] aqid[13]"
public struct Rauth: Hashable, Sendable {
    public var aqid: Qid
    public init(aqid: Qid) { self.aqid = aqid }
}
/// attach(5): "size[4] Tattach tag[2] fid[4] afid[4] uname[s] aname[s]"
public struct Tattach: Hashable, Sendable {
    public var fid: Fid
    public var afid: Fid
    public var uname: String
    public var aname: String
    public init(fid: Fid, afid: Fid = .nofid, uname: String, aname: String) {
        self.fid = fid; self.afid = afid; self.uname = uname; self.aname = aname
    }
}
/// attach(5): "size[4] Rattach tag[2] qid[13]"
public struct Rattach: Hashable, Sendable {
    public var qid: Qid
    public init(qid: Qid) { self.qid = qid }
}
/// error(5): "size[4] Rerror tag[2] ename[s]"
public struct Rerror: Hashable, Sendable {
    public var ename: String
    public init(ename: String) { self.ename = ename }
}
/// flush(5): "size[4] Tflush tag[2] oldtag[2]"
public struct Tflush: Hashable, Sendable {
    public var oldtag: Tag
    public init(oldtag: Tag) { self.oldtag = oldtag }
}
/// flush(5): "size[4] Rflush tag[2]"
public struct Rflush: Hashable, Sendable { public init() {} }
/// walk(5): "size[4] Twalk tag[2] fid[4] newfid[4] nwname[2] nwname*(wname[s])"
public struct Twalk: Hashable, Sendable {
    public var fid: Fid
    public var newfid: Fid
    public var wname: [String]
    public init(fid: Fid, newfid: Fid, wname: [String]) { self.fid = fid; self.newfid = newfid; self.wname = wname }
}
/// walk(5): "size[4] Rwalk tag[2] nwqid[2] nwqid*(wqid[13])"
public struct Rwalk: Hashable, Sendable {
    public var wqid: [Qid]
    public init(wqid: [Qid]) { self.wqid = wqid }
}
/// open(5): "size[4] Topen tag[2] fid[4] mode[1]"
public struct Topen: Hashable, Sendable {
    public var fid: Fid
    public var mode: OpenMode
    public init(fid: Fid, mode: OpenMode) { self.fid = fid; self.mode = mode }
}
/// open(5): "size[4] Ropen tag[2] qid[13] iounit[4]"
public struct Ropen: Hashable, Sendable {
    public var qid: Qid
    public var iounit: UInt32
    public init(qid: Qid, iounit: UInt32 = 0) { self.qid = qid; self.iounit = iounit }
}
/// open(5): "size[4] Tcreate tag[2] fid[4] name[s] perm[4] mode[1]"
public struct Tcreate: Hashable, Sendable {
    public var fid: Fid
    public var name: String
    public var perm: FileMode
    public var mode: OpenMode
    public init(fid: Fid, name: String, perm: FileMode, mode: OpenMode) {
        self.fid = fid; self.name = name; self.perm = perm; self.mode = mode
    }
}
/// open(5): "size[4] Rcreate tag[2] qid[13] iounit[4]"
public struct Rcreate: Hashable, Sendable {
    public var qid: Qid
    public var iounit: UInt32
    public init(qid: Qid, iounit: UInt32 = 0) { self.qid = qid; self.iounit = iounit }
}
/// read(5): "size[4] Tread tag[2] fid[4] offset[8] count[4]"
public struct Tread: Hashable, Sendable {
    public var fid: Fid
    public var offset: UInt64
    public var count: UInt32
    public init(fid: Fid, offset: UInt64, count: UInt32) { self.fid = fid; self.offset = offset; self.count = count }
}
/// read(5): "size[4] Rread tag[2] count[4] data[count]"
public struct Rread: Hashable, Sendable {
    public var data: ByteBuffer
    public init(data: ByteBuffer) { self.data = data }
}
/// read(5): "size[4] Twrite tag[2] fid[4] offset[8] count[4] data[count]"
public struct Twrite: Hashable, Sendable {
    public var fid: Fid
    public var offset: UInt64
    public var data: ByteBuffer
    public init(fid: Fid, offset: UInt64, data: ByteBuffer) { self.fid = fid; self.offset = offset; self.data = data }
}
/// read(5): "size[4] Rwrite tag[2] count[4]"
public struct Rwrite: Hashable, Sendable {
    public var count: UInt32
    public init(count: UInt32) { self.count = count }
}
/// clunk(5): "size[4] Tclunk tag[2] fid[4]"
public struct Tclunk: Hashable, Sendable {
    public var fid: Fid
    public init(fid: Fid) { self.fid = fid }
}
/// clunk(5): "size[4] Rclunk tag[2]"
public struct Rclunk: Hashable, Sendable { public init() {} }
/// remove(5): "size[4] Tremove tag[2] fid[4]"
public struct Tremove: Hashable, Sendable {
    public var fid: Fid
    public init(fid: Fid) { self.fid = fid }
}
/// remove(5): "size[4] Rremove tag[2]"
public struct Rremove: Hashable, Sendable { public init() {} }
/// stat(5): "size[4] Tstat tag[2] fid[4]"
public struct Tstat: Hashable, Sendable {
    public var fid: Fid
    public init(fid: Fid) { self.fid = fid }
}
/// stat(5): "size[4] Rstat tag[2] stat[n]"
public struct Rstat: Hashable, Sendable {
    public var stat: Stat
    public init(stat: Stat) { self.stat = stat }
}
/// stat(5): "size[4] Twstat tag[2] fid[4] stat[n]"
public struct Twstat: Hashable, Sendable {
    public var fid: Fid
    public var stat: Stat
    public init(fid: Fid, stat: Stat) { self.fid = fid; self.stat = stat }
}
/// stat(5): "size[4] Rwstat tag[2]"
public struct Rwstat: Hashable, Sendable { public init() {} }

/// The type byte of every 9P2000 message, numbered as in <fcall.h>.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case tversion = 100, rversion, tauth, rauth, tattach, rattach
    /// Terror is "illegal" in <fcall.h>: there is no such request.
    case terror, rerror, tflush, rflush, twalk, rwalk, topen, ropen
    case tcreate, rcreate, tread, rread, twrite, rwrite, tclunk, rclunk
    case tremove, rremove, tstat, rstat, twstat, rwstat

    /// T-messages have even numbers, R-messages odd.
    public var isRequest: Bool { rawValue & 1 == 0 }
}

/// Every 9P2000 message. An exhaustive `switch` over it is the dispatch table.
public enum Message: Hashable, Sendable {
    case tversion(Tversion), rversion(Rversion)
    case tauth(Tauth), rauth(Rauth)
    case tattach(Tattach), rattach(Rattach)
    case rerror(Rerror)
    case tflush(Tflush), rflush(Rflush)
    case twalk(Twalk), rwalk(Rwalk)
    case topen(Topen), ropen(Ropen)
    case tcreate(Tcreate), rcreate(Rcreate)
    case tread(Tread), rread(Rread)
    case twrite(Twrite), rwrite(Rwrite)
    case tclunk(Tclunk), rclunk(Rclunk)
    case tremove(Tremove), rremove(Rremove)
    case tstat(Tstat), rstat(Rstat)
    case twstat(Twstat), rwstat(Rwstat)

    public var type: MessageType {
        switch self {
        case .tversion: .tversion
        case .rversion: .rversion
        case .tauth: .tauth
        case .rauth: .rauth
        case .tattach: .tattach
        case .rattach: .rattach
        case .rerror: .rerror
        case .tflush: .tflush
        case .rflush: .rflush
        case .twalk: .twalk
        case .rwalk: .rwalk
        case .topen: .topen
        case .ropen: .ropen
        case .tcreate: .tcreate
        case .rcreate: .rcreate
        case .tread: .tread
        case .rread: .rread
        case .twrite: .twrite
        case .rwrite: .rwrite
        case .tclunk: .tclunk
        case .rclunk: .rclunk
        case .tremove: .tremove
        case .rremove: .rremove
        case .tstat: .tstat
        case .rstat: .rstat
        case .twstat: .twstat
        case .rwstat: .rwstat
        }
    }

    public var isRequest: Bool { type.isRequest }

    /// The fid a request acts on, if it names one.
    public var fid: Fid? {
        switch self {
        case .tattach(let m): m.fid
        case .twalk(let m): m.fid
        case .topen(let m): m.fid
        case .tcreate(let m): m.fid
        case .tread(let m): m.fid
        case .twrite(let m): m.fid
        case .tclunk(let m): m.fid
        case .tremove(let m): m.fid
        case .tstat(let m): m.fid
        case .twstat(let m): m.fid
        default: nil
        }
    }
}

/// A message with its tag: one frame on the wire, after <fcall.h>'s Fcall.
public struct Fcall: Hashable, Sendable {
    public var tag: Tag
    public var message: Message
    @inlinable public init(tag: Tag, _ message: Message) { self.tag = tag; self.message = message }
}
