import Glibc
public import NinePWire

/// What the service loop knows of a fid when it checks a request: a value
/// snapshot of `ServerFid`, so that checking is a pure function.
public struct FidFacts: Hashable, Sendable {
    public var qid: Qid
    /// The mode it was opened with (an xattr fid: read or write), or nil.
    public var openMode: OpenMode?
    public var xattr: ServerFid.XattrRole?
    /// Where the next 9P2000 directory read must start (read(5)).
    public var directoryOffset: UInt64

    public init(qid: Qid, openMode: OpenMode? = nil, xattr: ServerFid.XattrRole? = nil, directoryOffset: UInt64 = 0) {
        self.qid = qid
        self.openMode = openMode
        self.xattr = xattr
        self.directoryOffset = directoryOffset
    }

    init(_ fid: ServerFid) {
        self.init(qid: fid.qid, openMode: fid.openMode, xattr: fid.xattr, directoryOffset: fid.directoryPosition.offset)
    }
}

/// The protocol checks lib9p's srv.c makes before a FileServer sees a
/// request (STYLE rule 7), for all three dialects, as a pure function of the
/// message, the session (dialect, msize) and the fids it names: the loop
/// (`NinePServerHandler`) does what the verdict says, and tests drive it in
/// tables.
///
/// Not checked here, because they are about the tables rather than the fids
/// named: Tversion, duplicate tags and fids, fids being created (Tattach,
/// Tauth, a walk's newfid), Tflush.
public struct RequestCheck: Sendable {
    public var dialect: ProtocolVersion
    public var msize: UInt32

    public init(dialect: ProtocolVersion, msize: UInt32) {
        self.dialect = dialect
        self.msize = msize
    }

    /// The verdict on a request.
    public enum Verdict: Hashable, Sendable {
        /// Hand it to the FileServer.
        case accept
        /// Answer this error; the FileServer never sees the request.
        case reject(NinePError)
    }

    /// Linux's answer for a fid used in a way its kind forbids (an xattr
    /// fid walked, or a file fid read unopened under .L).
    public static let badFid = NinePError("fid cannot be used for this", errno: EBADF)
    /// Txattrcreate with a size above Linux's XATTR_SIZE_MAX.
    public static let xattrTooLarge = NinePError("extended attribute too large", errno: E2BIG)
    /// A write to an xattr fid past the size Txattrcreate declared.
    public static let beyondXattrSize = NinePError("write beyond the declared size of the extended attribute", errno: EINVAL)
    /// Treaddir of a fid that is not a directory.
    public static let notDirectory = NinePError(NinePError.notDirectory.ename, errno: ENOTDIR)
    /// Tunlinkat with flags other than AT_REMOVEDIR.
    public static let badFlags = NinePError("unknown flags", errno: EINVAL)
    /// Linux's XATTR_SIZE_MAX: the largest value setxattr(2) takes.
    public static let maxXattrSize: UInt64 = 65536

    /// Checks `message` against the fids it names; `fid` gives the facts
    /// of a live fid, or nil for a fid the client does not hold.
    public func check(_ message: Message, fid: (Fid) -> FidFacts?) -> Verdict {
        switch message {
        case .tversion, .tauth, .tflush:
            return .accept
        case .tattach(let t):
            if t.afid != .nofid, fid(t.afid) == nil { return .reject(.unknownFid) }
            return .accept

        case .twalk(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            if f.openMode != nil { return .reject(.walkOpenFid) }
            if !t.wname.isEmpty && !f.qid.isDirectory { return .reject(.walkNonDirectory) }
            return .accept

        case .topen(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            if f.openMode != nil { return .reject(.fidOpen) }
            if f.qid.isDirectory && !Self.isPlainRead(t.mode) { return .reject(.isDirectory) }
            return .accept

        case .tcreate(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            if f.openMode != nil { return .reject(.fidOpen) }
            if !f.qid.isDirectory { return .reject(.createNonDirectory) }
            if let e = Self.checkName(t.name) { return .reject(e) }
            if t.perm.isDirectory && !Self.isPlainRead(t.mode) { return .reject(.isDirectory) }
            return .accept

        case .tread(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            guard let mode = f.openMode else { return .reject(.fidNotOpen) }
            if !mode.allowsRead { return .reject(.openForWrite) }
            if t.count > msize - NineP.ioHeaderSize { return .reject(.badCount) }
            if f.xattr != nil { return .accept }
            if f.qid.isDirectory {
                switch dialect {
                case .ninep2000, .ninep2000u:
                    // read(5): a directory is read from offset 0 or where the last read ended.
                    if t.offset != 0 && t.offset != f.directoryOffset { return .reject(.badOffset) }
                case .ninep2000L:
                    // .L lists directories with Treaddir.
                    return .reject(NinePError(NinePError.isDirectory.ename, errno: EISDIR))
                }
            }
            return .accept

        case .twrite(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            guard let mode = f.openMode else { return .reject(.fidNotOpen) }
            if !mode.allowsWrite { return .reject(.openForRead) }
            if t.data.readableBytes > Int(msize - NineP.ioHeaderSize) { return .reject(.badCount) }
            if case .writing(_, let size, _) = f.xattr {
                let (end, overflow) = t.offset.addingReportingOverflow(UInt64(t.data.readableBytes))
                if overflow || end > size { return .reject(Self.beyondXattrSize) }
            }
            return .accept

        case .tclunk(let t):
            return fid(t.fid) == nil ? .reject(.unknownFid) : .accept

        case .tremove(let t):
            return fileFid(t.fid, fid)
        case .tstat(let t):
            return fileFid(t.fid, fid)
        case .twstat(let t):
            return fileFid(t.fid, fid)

        // 9P2000.L (diod protocol.md)
        case .tstatfs(let t):
            return fileFid(t.fid, fid)
        case .tlopen(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            if f.xattr != nil { return .reject(Self.badFid) }
            if f.openMode != nil { return .reject(.fidOpen) }
            if f.qid.isDirectory && t.flags.access != .readOnly {
                return .reject(NinePError(NinePError.isDirectory.ename, errno: EISDIR))
            }
            return .accept
        case .tlcreate(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            if f.xattr != nil { return .reject(Self.badFid) }
            if f.openMode != nil { return .reject(.fidOpen) }
            return directory(t.fid, name: t.name, fid)
        case .tsymlink(let t):
            return directory(t.fid, name: t.name, fid)
        case .tmknod(let t):
            return directory(t.dfid, name: t.name, fid)
        case .tmkdir(let t):
            return directory(t.dfid, name: t.name, fid)
        case .trename(let t):
            if case .reject(let e) = fileFid(t.fid, fid) { return .reject(e) }
            return directory(t.dfid, name: t.name, fid)
        case .treadlink(let t):
            return fileFid(t.fid, fid)
        case .tgetattr(let t):
            return fileFid(t.fid, fid)
        case .tsetattr(let t):
            return fileFid(t.fid, fid)
        case .txattrwalk(let t):
            return fileFid(t.fid, fid)
        case .txattrcreate(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            if f.xattr != nil { return .reject(Self.badFid) }
            if f.openMode != nil { return .reject(.fidOpen) }
            if t.attrSize > Self.maxXattrSize { return .reject(Self.xattrTooLarge) }
            return .accept
        case .treaddir(let t):
            guard let f = fid(t.fid) else { return .reject(.unknownFid) }
            if f.xattr != nil { return .reject(Self.badFid) }
            if !f.qid.isDirectory { return .reject(Self.notDirectory) }
            guard let mode = f.openMode else { return .reject(.fidNotOpen) }
            if !mode.allowsRead { return .reject(.openForWrite) }
            if t.count > msize - NineP.ioHeaderSize { return .reject(.badCount) }
            return .accept
        case .tfsync(let t):
            return openFileFid(t.fid, fid)
        case .tlock(let t):
            return openFileFid(t.fid, fid)
        case .tgetlock(let t):
            return openFileFid(t.fid, fid)
        case .tlink(let t):
            guard let target = fid(t.fid) else { return .reject(.unknownFid) }
            if target.xattr != nil { return .reject(Self.badFid) }
            if target.qid.isDirectory { return .reject(NinePError(NinePError.isDirectory.ename, errno: EPERM)) }
            return directory(t.dfid, name: t.name, fid)
        case .trenameat(let t):
            if case .reject(let e) = directory(t.olddirfid, name: t.oldname, fid) { return .reject(e) }
            return directory(t.newdirfid, name: t.newname, fid)
        case .tunlinkat(let t):
            if t.flags & ~Tunlinkat.removeDirectory != 0 { return .reject(Self.badFlags) }
            return directory(t.dirfd, name: t.name, fid)

        case .rversion, .rauth, .rattach, .rerror, .rflush, .rwalk, .ropen, .rcreate, .rread, .rwrite, .rclunk,
            .rremove, .rstat, .rwstat, .rlerror, .rstatfs, .rlopen, .rlcreate, .rsymlink, .rmknod, .rrename,
            .rreadlink, .rgetattr, .rsetattr, .rxattrwalk, .rxattrcreate, .rreaddir, .rfsync, .rlock, .rgetlock,
            .rlink, .rmkdir, .rrenameat, .runlinkat:
            return .reject(.unknownMessage)
        }
    }

    /// A live fid that is not an xattr fid (which is only read, written
    /// and clunked).
    private func fileFid(_ number: Fid, _ fid: (Fid) -> FidFacts?) -> Verdict {
        guard let f = fid(number) else { return .reject(.unknownFid) }
        return f.xattr == nil ? .accept : .reject(Self.badFid)
    }

    /// A file fid that has been opened (Tfsync, Tlock, Tgetlock).
    private func openFileFid(_ number: Fid, _ fid: (Fid) -> FidFacts?) -> Verdict {
        guard let f = fid(number) else { return .reject(.unknownFid) }
        if f.xattr != nil || f.openMode == nil { return .reject(Self.badFid) }
        return .accept
    }

    /// A directory fid (not an xattr fid) and a name to make or find in it.
    private func directory(_ number: Fid, name: String, _ fid: (Fid) -> FidFacts?) -> Verdict {
        guard let f = fid(number) else { return .reject(.unknownFid) }
        if f.xattr != nil { return .reject(Self.badFid) }
        if !f.qid.isDirectory { return .reject(Self.notDirectory) }
        if let e = Self.checkName(name) { return .reject(e) }
        return .accept
    }

    /// A name made or removed in a directory: not empty, ".", "..", nor
    /// holding "/" or NUL.
    static func checkName(_ name: String) -> NinePError? {
        if name.isEmpty || name.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == 0 }) {
            return NinePError(NinePError.badName.ename, errno: EINVAL)
        }
        if name == "." || name == ".." { return NinePError(NinePError.exists.ename, errno: EEXIST) }
        return nil
    }

    /// lib9p sopen: a directory may only be opened (or created) OREAD,
    /// ORCLOSE allowed.
    static func isPlainRead(_ mode: OpenMode) -> Bool {
        mode.rawValue & ~OpenMode.removeOnCloseBit == OpenMode.read.rawValue
    }
}
