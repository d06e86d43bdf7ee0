import Glibc
import NinePWire

extension ExportFileServer {
    /// Applies a Twstat to the fid's file.
    ///
    /// All "don't touch" (stat(5)) is a request to commit the file to
    /// stable storage: fsync of the open descriptor, or of a fresh one.
    /// Otherwise every field is checked before anything changes; fields that
    /// cannot change (type, dev, qid, muid, uid) are accepted when equal to
    /// the current value, so a client may send back a modified Rstat. The
    /// changes are then made in the order length (truncate), gid (chown
    /// -1:gid), mode (chmod of the permission bits, keeping the host's
    /// setuid/setgid/sticky bits; the DMDIR bit cannot change), atime/mtime
    /// (utimensat) and name. Renaming stays in the directory and replaces
    /// an existing file atomically (renameat(2)), unlike Plan 9's kernel,
    /// which refuses: POSIX clients behind the FUSE bridge rename over files
    /// all the time. If a later step fails, earlier ones stay done.
    /// Symbolic links can only be renamed.
    func applyWstat(_ d: Stat, to fid: ExportFid) throws(NinePError) {
        if d.isAllDontTouch { return try synchronize(fid) }
        if isReadOnly { throw .readOnly }
        let node = fid.node
        let (st, current) = try currentEntry(node)

        if d.type != Stat.dontTouch.type && d.type != current.type { throw .changeType }
        if d.dev != Stat.dontTouch.dev && d.dev != current.dev { throw .changeDevice }
        let q = d.qid, dq = Stat.dontTouch.qid
        if (q.type != dq.type && q.type != current.qid.type)
            || (q.version != dq.version && q.version != current.qid.version)
            || (q.path != dq.path && q.path != current.qid.path)
        {
            throw .changeQid
        }
        if !d.muid.isEmpty && d.muid != current.muid { throw .changeMuid }
        if d.changesUid && d.uid != current.uid { throw .permissionDenied }

        let isLink = node.kind == .symlink
        var length: off_t?
        if d.changesLength && d.length != current.length {
            switch node.kind {
            case .directory: throw .isDirectory
            case .symlink: throw .symlinkUnchangeable
            case .special: throw .specialFile
            case .regular: break
            }
            guard d.length <= UInt64(Int64.max) else { throw NinePError(errno: EFBIG) }
            length = off_t(d.length)
        }
        var group: gid_t?
        if d.changesGid && d.gid != current.gid {
            guard let gid = status.names.groupID(named: d.gid) else { throw .unknownGroup }
            group = gid
        }
        var permissions: mode_t?
        if d.changesMode && !(isLink && d.mode == current.mode) {
            if d.mode.isDirectory != node.isDirectory { throw .changeDirectoryBit }
            let flags = FileMode(rawValue: d.mode.rawValue & ~0o777).subtracting([.dir, .tmp])
            if !flags.isEmpty { throw .unsupportedMode }
            if isLink { throw .symlinkUnchangeable }
            permissions = (st.st_mode & 0o7000) | mode_t(d.mode.permissions)
        }
        var times: [timespec]?
        let changesTimes = (d.changesAtime && d.atime != current.atime) || (d.changesMtime && d.mtime != current.mtime)
        if d.changesAtime || d.changesMtime, !(isLink && !changesTimes) {
            if isLink { throw .symlinkUnchangeable }
            func time(_ change: Bool, _ seconds: UInt32) -> timespec {
                change ? timespec(tv_sec: Int(seconds), tv_nsec: 0) : timespec(tv_sec: 0, tv_nsec: Host.utimeOmit)
            }
            times = [time(d.changesAtime, d.atime), time(d.changesMtime, d.mtime)]
        }
        var name: String?
        if d.changesName && d.name != current.name {
            try FileName.checkCreatable(d.name)
            if node.isRoot { throw .permissionDenied }
            name = d.name
        }

        // The magic link reaches exactly this inode and is never used for a
        // symbolic link, so nothing here follows one.
        let path = Host.procPath(node.fd)
        if let length { _ = try Host.call { truncate(path, length) } }
        if let group { _ = try Host.call { fchownat(node.fd, "", uid_t.max, group, Host.atEmptyPath) } }
        if let permissions { _ = try Host.call { chmod(path, permissions) } }
        if var times { _ = try Host.call { utimensat(AT_FDCWD, path, &times, 0) } }
        if let name { try node.rename(to: name) }
    }

    /// fsync(2) of the fid's open descriptor, or of one opened for the
    /// purpose. Symbolic links and special files have nothing to commit.
    private func synchronize(_ fid: ExportFid) throws(NinePError) {
        try fid.withOpenDescriptor { open throws(NinePError) in
            if let open {
                _ = try Host.call { Glibc.fsync(open) }
                return
            }
            let flags: Int32
            switch fid.node.kind {
            case .symlink, .special: return
            case .directory: flags = O_RDONLY | O_DIRECTORY
            case .regular: flags = O_RDONLY
            }
            let fd = try fid.node.reopen(flags: flags)
            defer { close(fd) }
            _ = try Host.call { Glibc.fsync(fd) }
        }
    }
}
