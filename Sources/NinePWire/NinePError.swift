/// A 9P error: the text of an Rerror, kept verbatim, and the Linux errno
/// when one is known.
///
/// error(5): "The Rerror message (there is no Terror) is used to return an
/// error string describing the failure of a transaction." 9P2000.u adds an
/// errno to Rerror and 9P2000.L answers Rlerror, an errno alone; so an error
/// carries both, and `reply(in:)` says it in each dialect's words. The
/// constants are the texts of Plan 9's kernel and lib9p (srv.c), which
/// clients (our errno table among them) recognise.
public struct NinePError: Error, Hashable, Sendable, CustomStringConvertible {
    public var ename: String
    /// The Linux errno, when the server or the FileServer said which; nil:
    /// the text decides (`linuxErrno`).
    public var errno: Int32?

    public init(_ ename: String, errno: Int32? = nil) {
        self.ename = ename
        self.errno = errno
    }

    /// An error known by its errno only (an Rlerror): the host's strerror text.
    public init(errno: Int32) {
        self.init(NinePErrno.text(for: errno), errno: errno)
    }

    public var description: String { ename }

    /// The errno to report: the one given, else the text's through `NinePErrno`.
    public var linuxErrno: Int32 { errno ?? NinePErrno.errno(for: ename) }

    /// The error as `version` answers it: Rerror (9P2000), Rerror with its
    /// errno (9P2000.u), or Rlerror (9P2000.L).
    public func reply(in version: ProtocolVersion) -> Message {
        switch version {
        case .ninep2000: .rerror(Rerror(ename: ename))
        case .ninep2000u: .rerror(Rerror(ename: ename, errno: UInt32(bitPattern: linuxErrno)))
        case .ninep2000L: .rlerror(Rlerror(ecode: UInt32(bitPattern: linuxErrno)))
        }
    }

    // lib9p srv.c
    public static let badAttach = NinePError("unknown specifier in attach")
    public static let badOffset = NinePError("bad offset")
    public static let badCount = NinePError("bad count")
    public static let botch = NinePError("9P protocol botch")
    public static let createNonDirectory = NinePError("create in non-directory")
    public static let duplicateFid = NinePError("duplicate fid")
    public static let duplicateTag = NinePError("duplicate tag")
    public static let isDirectory = NinePError("is a directory")
    public static let noCreate = NinePError("create prohibited")
    public static let noRemove = NinePError("remove prohibited")
    public static let noStat = NinePError("stat prohibited")
    public static let notFound = NinePError("file not found")
    public static let noWrite = NinePError("write prohibited")
    public static let noWstat = NinePError("wstat prohibited")
    public static let permissionDenied = NinePError("permission denied")
    public static let unknownFid = NinePError("unknown fid")
    public static let badDirectory = NinePError("bad directory in wstat")
    public static let walkNonDirectory = NinePError("walk in non-directory")
    public static let fidOpen = NinePError("fid is already open")
    public static let fidNotOpen = NinePError("fid not open")
    public static let openForRead = NinePError("file not open for writing")
    public static let openForWrite = NinePError("file not open for reading")
    public static let authNotRequired = NinePError("authentication not required")
    public static let interrupted = NinePError("interrupted")

    // Plan 9 kernel (port/error.h)
    public static let doesNotExist = NinePError("file does not exist")
    public static let exists = NinePError("file already exists")
    public static let notDirectory = NinePError("not a directory")
    public static let notEmpty = NinePError("directory not empty")
    public static let inUse = NinePError("file in use")
    public static let badName = NinePError("bad character in file name")
    public static let readOnly = NinePError("file system read only")
    public static let tooManyFids = NinePError("too many fids")
    public static let tooManyRequests = NinePError("too many outstanding requests")
    public static let notSupported = NinePError("operation not supported")
}
