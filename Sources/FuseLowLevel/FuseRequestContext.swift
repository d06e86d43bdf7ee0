import CFuse

/// Who made a request: the calling process's credentials (`struct fuse_ctx`).
public struct FuseRequestContext: Sendable, Hashable {
    public var uid: UInt32
    public var gid: UInt32
    /// The calling thread's id; 0 for requests the kernel makes itself (writeback, forget).
    public var pid: Int32
    /// The caller's umask, already applied by the kernel to create/mkdir/mknod modes.
    public var umask: UInt32

    public init(uid: UInt32 = 0, gid: UInt32 = 0, pid: Int32 = 0, umask: UInt32 = 0o022) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.umask = umask
    }

    init(_ request: OpaquePointer?) {
        guard let ctx = fuse_req_ctx(request)?.pointee else {
            self.init()
            return
        }
        self.init(uid: ctx.uid, gid: ctx.gid, pid: ctx.pid, umask: ctx.umask)
    }
}
