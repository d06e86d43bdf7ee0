import Glibc
import NIOCore
import NinePWire

// FileTreeServer under 9P2000.L. lopen, lcreate and setattr are
// FileServer's defaults (open, create and wstat, with the tree's Plan 9
// permission checks); these serve the rest from the tree. The tree
// keeps string owners, so the numeric uid and gid of Tlcreate, Tmkdir and
// Tsymlink are not kept, and getattr leaves them out of `valid`.
extension FileTreeServer {
    /// Treaddir by position: ".", "..", then the entries in the order they
    /// were made, as the directory is when the read is answered. Offset k
    /// resumes at entry k; an entry removed meanwhile moves later ones up
    /// one place, so a resumed listing may skip a name (readdir(3) allows it).
    public func readdir(_ r: Request) {
        guard let dir = r.fid?.file else { return r.respond(error: .botch) }
        let children = dir.children
        let parent = dir.parent ?? dir
        readDir(r) { n in
            switch n {
            case 0: DirEntry(qid: dir.qid, offset: 0, type: DirEntry.type(of: dir.qid), name: ".")
            case 1: DirEntry(qid: parent.qid, offset: 0, type: DirEntry.type(of: parent.qid), name: "..")
            case let i where i - 2 < children.count:
                DirEntry(qid: children[i - 2].qid, offset: 0, type: DirEntry.type(of: children[i - 2].qid), name: children[i - 2].name)
            default: nil
            }
        }
    }

    /// Tgetattr: the file's stat entry as `LinuxAttributes(stat:)` reads it,
    /// answered directly (FileServer's default would go through `stat`).
    public func getattr(_ r: Request) {
        guard let file = r.fid?.file else { return r.respond(error: .botch) }
        r.respond(.rgetattr(Rgetattr(attributes: LinuxAttributes(stat: file.stat))))
    }

    /// Tmkdir: a directory owned by the fid's user, with the permissions
    /// asked limited by the parent's (open(5)); needs write permission.
    public func mkdir(_ r: Request) {
        guard case .tmkdir(let t) = r.ifcall else { return r.respond(error: .botch) }
        make(r, name: t.name, perm: FileMode(permissions: t.mode & 0o777, flags: .dir)) { .rmkdir(Rmkdir(qid: $0.qid)) }
    }

    /// Tsymlink: a file with DMSYMLINK whose contents are the target
    /// (9P2000.u's convention, so that .u clients see the same link).
    public func symlink(_ r: Request) {
        guard case .tsymlink(let t) = r.ifcall else { return r.respond(error: .botch) }
        make(r, name: t.name, perm: FileMode(permissions: 0o777, flags: .symlink), target: t.symtgt) {
            .rsymlink(Rsymlink(qid: $0.qid))
        }
    }

    /// Treadlink: the target of a DMSYMLINK file; EINVAL for any other.
    public func readlink(_ r: Request) {
        guard let file = r.fid?.file else { return r.respond(error: .botch) }
        guard file.stat.mode.contains(.symlink) else { return r.respond(error: NinePError(errno: EINVAL)) }
        let data = file.read(offset: 0, count: UInt32(clamping: file.length))
        r.respond(.rreadlink(Rreadlink(target: String(decoding: data.readableBytesView, as: UTF8.self))))
    }

    /// Trenameat within one directory (write permission in it). A tree
    /// file keeps its parent for life, so a move to another directory
    /// answers EXDEV, on which mv(1) copies and removes.
    public func renameat(_ r: Request) {
        guard case .trenameat(let t) = r.ifcall, let from = r.fid?.file, let to = r.newfid?.file else {
            return r.respond(error: .botch)
        }
        guard let file = from.child(named: t.oldname) else { return r.respond(error: NinePError(errno: ENOENT)) }
        move(r, file, to: to, name: t.newname) { .rrenameat(Rrenameat()) }
    }

    /// Trename: as `renameat`, for the file of the fid.
    public func rename(_ r: Request) {
        guard case .trename(let t) = r.ifcall, let file = r.fid?.file, let to = r.newfid?.file else {
            return r.respond(error: .botch)
        }
        move(r, file, to: to, name: t.name) { .rrename(Rrename()) }
    }

    /// Tunlinkat: as `remove`, of the entry named, which must be a
    /// directory exactly when AT_REMOVEDIR is given.
    public func unlinkat(_ r: Request) {
        guard case .tunlinkat(let t) = r.ifcall, let fid = r.fid, let dir = fid.file else {
            return r.respond(error: .botch)
        }
        guard let file = dir.child(named: t.name) else { return r.respond(error: NinePError(errno: ENOENT)) }
        let wantsDirectory = t.flags & Tunlinkat.removeDirectory != 0
        if file.isDirectory != wantsDirectory {
            return r.respond(error: NinePError(errno: wantsDirectory ? ENOTDIR : EISDIR))
        }
        guard dir.hasPermission(fid.uname, .write) else { return r.respond(error: .permissionDenied) }
        do throws(NinePError) {
            try file.remove()
            r.respond(.runlinkat(Runlinkat()))
        } catch {
            r.respond(error: error)
        }
    }

    /// Tstatfs: a memory file system's figures: 4 KiB blocks, the tree's
    /// contents in use, the host's free memory (sysconf(_SC_AVPHYS_PAGES)) free.
    public func statfs(_ r: Request) {
        var (files, bytes): (UInt64, UInt64) = (0, 0)
        var pending = [tree.root]
        while let file = pending.popLast() {
            files += 1
            bytes += file.length
            pending.append(contentsOf: file.children)
        }
        let pages = sysconf(Int32(_SC_AVPHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        let freeBytes = pages > 0 && pageSize > 0 ? UInt64(pages) * UInt64(pageSize) : 0
        let bsize: UInt64 = 4096
        let used = (bytes + bsize - 1) / bsize
        let free = freeBytes / bsize
        r.respond(
            .rstatfs(
                Rstatfs(
                    type: 0x0102_1994, bsize: UInt32(bsize), blocks: used + free, bfree: free, bavail: free,
                    files: files + free, ffree: free, namelen: 255)))
    }

    /// Makes `name` in the directory of `r.fid` and answers `reply(file)`.
    private func make(
        _ r: Request, name: String, perm: FileMode, target: String? = nil, reply: (File) -> Message
    ) {
        guard let fid = r.fid, let dir = fid.file else { return r.respond(error: .botch) }
        guard dir.hasPermission(fid.uname, .write) else { return r.respond(error: .permissionDenied) }
        do throws(NinePError) {
            let file = try dir.create(named: name, uid: fid.uname, perm: dir.permissionsForNewEntry(perm))
            if let target {
                var data = ByteBufferAllocator().buffer(capacity: target.utf8.count)
                data.writeString(target)
                _ = try file.write(data, at: 0, by: fid.uname)
                file.updateStat { $0.extension = target }
            }
            r.respond(reply(file))
        } catch {
            r.respond(error: error)
        }
    }

    /// Renames `file` to `name` in `directory`, which must be its own.
    private func move(_ r: Request, _ file: File, to directory: File, name: String, reply: () -> Message) {
        guard let fid = r.fid else { return r.respond(error: .botch) }
        guard let parent = file.parent else { return r.respond(error: NinePError(errno: EBUSY)) }
        guard parent === directory else { return r.respond(error: NinePError(errno: EXDEV)) }
        guard parent.hasPermission(fid.uname, .write) else { return r.respond(error: .permissionDenied) }
        if let existing = parent.child(named: name), existing !== file {
            // rename(2) replaces a file, or an empty directory by a directory.
            guard existing.isDirectory == file.isDirectory else {
                return r.respond(error: NinePError(errno: existing.isDirectory ? EISDIR : ENOTDIR))
            }
            do throws(NinePError) { try existing.remove() } catch { return r.respond(error: error) }
        }
        do throws(NinePError) {
            try file.rename(to: name)
            r.respond(reply())
        } catch {
            r.respond(error: error)
        }
    }
}
