/// A 9P error: the `ename` string of an Rerror, kept verbatim.
///
/// error(5): "The Rerror message (there is no Terror) is used to return an
/// error string describing the failure of a transaction." The constants are
/// the texts of Plan 9's kernel and lib9p (srv.c), which clients (our errno
/// table among them) recognise.
public struct NinePError: Error, Hashable, Sendable, CustomStringConvertible {
    public var ename: String
    public init(_ ename: String) { self.ename = ename }
    public var description: String { ename }

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
