public import NIOCore

// One value type per 9P2000 message (intro(5) and section 5 of the Plan 9
// manual), with the fields 9P2000.u adds (the 9p2000.u draft, ericvh/9p-rfc);
// the messages of 9P2000.L are in DotLMessages.swift. Field names follow the
// manual; the tag lives in `Fcall`. Which fields travel is the dialect's
// business (FcallCodec): a field a dialect lacks is left out when encoding
// and takes its documented default when decoding.

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
/// attach(5): "size[4] Tauth tag[2] afid[4] uname[s] aname[s]"; 9P2000.u
/// and 9P2000.L: "size[4] Tauth tag[2] afid[4] uname[s] aname[s] n_uname[4]"
public struct Tauth: Hashable, Sendable {
    public var afid: Fid
    public var uname: String
    public var aname: String
    /// 9P2000.u, 9P2000.L: the numeric user id, `NineP.nonuname` when not given.
    public var nUname: UInt32
    public init(afid: Fid, uname: String, aname: String, nUname: UInt32 = NineP.nonuname) {
        self.afid = afid; self.uname = uname; self.aname = aname; self.nUname = nUname
    }
}
/// attach(5): "size[4] Rauth tag[2] aqid[13]"
public struct Rauth: Hashable, Sendable {
    public var aqid: Qid
    public init(aqid: Qid) { self.aqid = aqid }
}
/// attach(5): "size[4] Tattach tag[2] fid[4] afid[4] uname[s] aname[s]";
/// 9P2000.u and 9P2000.L: "size[4] Tattach tag[2] fid[4] afid[4] uname[s]
/// aname[s] n_uname[4]"
public struct Tattach: Hashable, Sendable {
    public var fid: Fid
    public var afid: Fid
    public var uname: String
    public var aname: String
    /// 9P2000.u, 9P2000.L: "n_uname, if not set to P9_NONUNAME (~0), is the
    /// uid of the user and is used in preference to uname" (diod protocol.md).
    public var nUname: UInt32
    public init(fid: Fid, afid: Fid = .nofid, uname: String, aname: String, nUname: UInt32 = NineP.nonuname) {
        self.fid = fid; self.afid = afid; self.uname = uname; self.aname = aname; self.nUname = nUname
    }
}
/// attach(5): "size[4] Rattach tag[2] qid[13]"
public struct Rattach: Hashable, Sendable {
    public var qid: Qid
    public init(qid: Qid) { self.qid = qid }
}
/// error(5): "size[4] Rerror tag[2] ename[s]"; 9P2000.u: "size[4] Rerror
/// tag[2] ename[s] errno[4]". 9P2000.L answers errors with Rlerror instead.
public struct Rerror: Hashable, Sendable {
    public var ename: String
    /// 9P2000.u: "a hint of the underlying UNIX error number"; 0 when none
    /// is given (and under 9P2000, which cannot carry one).
    public var errno: UInt32
    public init(ename: String, errno: UInt32 = 0) { self.ename = ename; self.errno = errno }
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
/// open(5): "size[4] Tcreate tag[2] fid[4] name[s] perm[4] mode[1]";
/// 9P2000.u: "size[4] Tcreate tag[2] fid[4] name[s] perm[4] mode[1] extension[s]"
public struct Tcreate: Hashable, Sendable {
    public var fid: Fid
    public var name: String
    public var perm: FileMode
    public var mode: OpenMode
    /// 9P2000.u: "For DSYMLINK files, the string is the target of the link.
    /// For DMDEVICE files, the string is "b 1 2" for a block device with
    /// major 1, minor 2. For normal files, this string is empty."
    public var `extension`: String
    public init(fid: Fid, name: String, perm: FileMode, mode: OpenMode, extension: String = "") {
        self.fid = fid; self.name = name; self.perm = perm; self.mode = mode; self.extension = `extension`
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

/// The type byte of every message of the three dialects: 9P2000's as in
/// <fcall.h>, 9P2000.L's as in Linux's include/net/9p/9p.h (enum p9_msg_t),
/// where every R-message is its T-message plus one.
public enum MessageType: UInt8, Sendable, CaseIterable {
    // 9P2000.L
    case rlerror = 7
    case tstatfs = 8, rstatfs
    case tlopen = 12, rlopen
    case tlcreate = 14, rlcreate
    case tsymlink = 16, rsymlink
    case tmknod = 18, rmknod
    case trename = 20, rrename
    case treadlink = 22, rreadlink
    case tgetattr = 24, rgetattr
    case tsetattr = 26, rsetattr
    case txattrwalk = 30, rxattrwalk
    case txattrcreate = 32, rxattrcreate
    case treaddir = 40, rreaddir
    case tfsync = 50, rfsync
    case tlock = 52, rlock
    case tgetlock = 54, rgetlock
    case tlink = 70, rlink
    case tmkdir = 72, rmkdir
    case trenameat = 74, rrenameat
    case tunlinkat = 76, runlinkat
    // 9P2000 (and 9P2000.u)
    case tversion = 100, rversion, tauth, rauth, tattach, rattach
    /// Terror is "illegal" in <fcall.h>: there is no such request.
    case terror, rerror, tflush, rflush, twalk, rwalk, topen, ropen
    case tcreate, rcreate, tread, rread, twrite, rwrite, tclunk, rclunk
    case tremove, rremove, tstat, rstat, twstat, rwstat

    /// T-messages have even numbers, R-messages odd.
    public var isRequest: Bool { rawValue & 1 == 0 }
}

/// Every message of 9P2000, 9P2000.u and 9P2000.L. An exhaustive `switch`
/// over it is the dispatch table.
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
    // 9P2000.L
    case rlerror(Rlerror)
    case tstatfs(Tstatfs), rstatfs(Rstatfs)
    case tlopen(Tlopen), rlopen(Rlopen)
    case tlcreate(Tlcreate), rlcreate(Rlcreate)
    case tsymlink(Tsymlink), rsymlink(Rsymlink)
    case tmknod(Tmknod), rmknod(Rmknod)
    case trename(Trename), rrename(Rrename)
    case treadlink(Treadlink), rreadlink(Rreadlink)
    case tgetattr(Tgetattr), rgetattr(Rgetattr)
    case tsetattr(Tsetattr), rsetattr(Rsetattr)
    case txattrwalk(Txattrwalk), rxattrwalk(Rxattrwalk)
    case txattrcreate(Txattrcreate), rxattrcreate(Rxattrcreate)
    case treaddir(Treaddir), rreaddir(Rreaddir)
    case tfsync(Tfsync), rfsync(Rfsync)
    case tlock(Tlock), rlock(Rlock)
    case tgetlock(Tgetlock), rgetlock(Rgetlock)
    case tlink(Tlink), rlink(Rlink)
    case tmkdir(Tmkdir), rmkdir(Rmkdir)
    case trenameat(Trenameat), rrenameat(Rrenameat)
    case tunlinkat(Tunlinkat), runlinkat(Runlinkat)

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
        case .rlerror: .rlerror
        case .tstatfs: .tstatfs
        case .rstatfs: .rstatfs
        case .tlopen: .tlopen
        case .rlopen: .rlopen
        case .tlcreate: .tlcreate
        case .rlcreate: .rlcreate
        case .tsymlink: .tsymlink
        case .rsymlink: .rsymlink
        case .tmknod: .tmknod
        case .rmknod: .rmknod
        case .trename: .trename
        case .rrename: .rrename
        case .treadlink: .treadlink
        case .rreadlink: .rreadlink
        case .tgetattr: .tgetattr
        case .rgetattr: .rgetattr
        case .tsetattr: .tsetattr
        case .rsetattr: .rsetattr
        case .txattrwalk: .txattrwalk
        case .rxattrwalk: .rxattrwalk
        case .txattrcreate: .txattrcreate
        case .rxattrcreate: .rxattrcreate
        case .treaddir: .treaddir
        case .rreaddir: .rreaddir
        case .tfsync: .tfsync
        case .rfsync: .rfsync
        case .tlock: .tlock
        case .rlock: .rlock
        case .tgetlock: .tgetlock
        case .rgetlock: .rgetlock
        case .tlink: .tlink
        case .rlink: .rlink
        case .tmkdir: .tmkdir
        case .rmkdir: .rmkdir
        case .trenameat: .trenameat
        case .rrenameat: .rrenameat
        case .tunlinkat: .tunlinkat
        case .runlinkat: .runlinkat
        }
    }

    public var isRequest: Bool { type.isRequest }

    /// The error a reply carries: Rerror's text (with 9P2000.u's errno when
    /// not 0) or Rlerror's errno; nil for every other message.
    public var replyError: NinePError? {
        switch self {
        case .rerror(let r): NinePError(r.ename, errno: r.errno == 0 ? nil : Int32(bitPattern: r.errno))
        case .rlerror(let r): NinePError(errno: Int32(bitPattern: r.ecode))
        case .tversion, .rversion, .tauth, .rauth, .tattach, .rattach, .tflush, .rflush, .twalk, .rwalk, .topen,
            .ropen, .tcreate, .rcreate, .tread, .rread, .twrite, .rwrite, .tclunk, .rclunk, .tremove, .rremove,
            .tstat, .rstat, .twstat, .rwstat, .tstatfs, .rstatfs, .tlopen, .rlopen, .tlcreate, .rlcreate,
            .tsymlink, .rsymlink, .tmknod, .rmknod, .trename, .rrename, .treadlink, .rreadlink, .tgetattr,
            .rgetattr, .tsetattr, .rsetattr, .txattrwalk, .rxattrwalk, .txattrcreate, .rxattrcreate, .treaddir,
            .rreaddir, .tfsync, .rfsync, .tlock, .rlock, .tgetlock, .rgetlock, .tlink, .rlink, .tmkdir, .rmkdir,
            .trenameat, .rrenameat, .tunlinkat, .runlinkat:
            nil
        }
    }

    /// The fid a request acts on first (for Tmknod, Tlink, Tmkdir and
    /// Tunlinkat the directory, for Trenameat the old directory), or nil for
    /// a request that names none and for every reply.
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
        case .tstatfs(let m): m.fid
        case .tlopen(let m): m.fid
        case .tlcreate(let m): m.fid
        case .tsymlink(let m): m.fid
        case .tmknod(let m): m.dfid
        case .trename(let m): m.fid
        case .treadlink(let m): m.fid
        case .tgetattr(let m): m.fid
        case .tsetattr(let m): m.fid
        case .txattrwalk(let m): m.fid
        case .txattrcreate(let m): m.fid
        case .treaddir(let m): m.fid
        case .tfsync(let m): m.fid
        case .tlock(let m): m.fid
        case .tgetlock(let m): m.fid
        case .tlink(let m): m.dfid
        case .tmkdir(let m): m.dfid
        case .trenameat(let m): m.olddirfid
        case .tunlinkat(let m): m.dirfd
        // Tversion, Tauth (its afid is new) and Tflush name no fid in use.
        case .tversion, .tauth, .tflush: nil
        case .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate, .rread, .rwrite,
            .rclunk, .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod,
            .rrename, .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync,
            .rlock, .rgetlock, .rlink, .rmkdir, .rrenameat, .runlinkat:
            nil
        }
    }
}

/// A message with its tag: one frame on the wire, after <fcall.h>'s Fcall.
public struct Fcall: Hashable, Sendable {
    public var tag: Tag
    public var message: Message
    @inlinable public init(tag: Tag, _ message: Message) { self.tag = tag; self.message = message }
}
