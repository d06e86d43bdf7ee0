import CFuse
import Glibc

/// The `fuse_lowlevel_ops` table: C callbacks that find the session through
/// `fuse_req_userdata`, convert the arguments to Swift values and call the
/// `FuseOperations`. They run on whatever read the request (the session's
/// event loop, when `FuseSessionOptions.eventLoop` is set, else a worker
/// thread) and return as soon as the operation returns; the reply handle
/// answers later.
///
/// Names that are not valid UTF-8 are answered `EINVAL` before the
/// operations see them. `destroy` is left out: `FuseSession.run()` calls
/// `FuseOperations.destroy` itself once the workers have stopped.
enum LowLevelOps {
    static func table() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.`init` = { userdata, conn in
            guard let userdata, let conn else { return }
            SessionCore.from(userdata).negotiate(conn)
        }
        ops.lookup = { req, parent, name in
            named(req, name) { core, context, name in
                core.operations.lookup(context, parent: parent, name: name, reply: makeReply(core, req, "lookup"))
            }
        }
        ops.forget = { req, ino, lookups in
            sessionCore(req).operations.forget(ino: ino, lookups: lookups)
            fuse_reply_none(req)
        }
        ops.forget_multi = { req, count, forgets in
            let items = (0..<count).map { FuseForget(ino: forgets![$0].ino, lookups: forgets![$0].nlookup) }
            sessionCore(req).operations.forgetMulti(items)
            fuse_reply_none(req)
        }
        ops.getattr = { req, ino, fi in
            let core = sessionCore(req)
            core.operations.getattr(
                FuseRequestContext(req), ino: ino, fileInfo: FuseFileInfo(fi), reply: makeReply(core, req, "getattr"))
        }
        ops.setattr = { req, ino, attr, toSet, fi in
            let core = sessionCore(req)
            core.operations.setattr(
                FuseRequestContext(req), ino: ino, attr: FuseAttr(attr!.pointee),
                fields: SetattrFields(rawValue: UInt32(bitPattern: toSet)), fileInfo: FuseFileInfo(fi),
                reply: makeReply(core, req, "setattr"))
        }
        ops.readlink = { req, ino in
            let core = sessionCore(req)
            core.operations.readlink(FuseRequestContext(req), ino: ino, reply: makeReply(core, req, "readlink"))
        }
        ops.mknod = { req, parent, name, mode, rdev in
            named(req, name) { core, context, name in
                core.operations.mknod(
                    context, parent: parent, name: name, mode: mode, rdev: UInt64(rdev), reply: makeReply(core, req, "mknod"))
            }
        }
        ops.mkdir = { req, parent, name, mode in
            named(req, name) { core, context, name in
                core.operations.mkdir(context, parent: parent, name: name, mode: mode, reply: makeReply(core, req, "mkdir"))
            }
        }
        ops.unlink = { req, parent, name in
            named(req, name) { core, context, name in
                core.operations.unlink(context, parent: parent, name: name, reply: makeReply(core, req, "unlink"))
            }
        }
        ops.rmdir = { req, parent, name in
            named(req, name) { core, context, name in
                core.operations.rmdir(context, parent: parent, name: name, reply: makeReply(core, req, "rmdir"))
            }
        }
        ops.symlink = { req, target, parent, name in
            named(req, target) { _, _, target in
                named(req, name) { core, context, name in
                    core.operations.symlink(
                        context, target: target, parent: parent, name: name, reply: makeReply(core, req, "symlink"))
                }
            }
        }
        ops.rename = { req, parent, name, newParent, newName, flags in
            named(req, name) { _, _, name in
                named(req, newName) { core, context, newName in
                    core.operations.rename(
                        context, parent: parent, name: name, newParent: newParent, newName: newName,
                        flags: RenameFlags(rawValue: flags), reply: makeReply(core, req, "rename"))
                }
            }
        }
        ops.link = { req, ino, newParent, newName in
            named(req, newName) { core, context, newName in
                core.operations.link(
                    context, ino: ino, newParent: newParent, newName: newName, reply: makeReply(core, req, "link"))
            }
        }
        ops.open = { req, ino, fi in
            let core = sessionCore(req)
            core.operations.open(FuseRequestContext(req), ino: ino, fileInfo: fileInfo(fi), reply: makeReply(core, req, "open"))
        }
        ops.read = { req, ino, size, offset, fi in
            let core = sessionCore(req)
            core.operations.read(
                FuseRequestContext(req), ino: ino, size: size, offset: Int64(offset), fileInfo: fileInfo(fi),
                reply: makeReply(core, req, "read", limit: size))
        }
        ops.write = { req, ino, buf, size, offset, fi in
            let core = sessionCore(req)
            core.operations.write(
                FuseRequestContext(req), ino: ino, data: core.bytes(buf, count: size),
                offset: Int64(offset), fileInfo: fileInfo(fi), reply: makeReply(core, req, "write"))
        }
        ops.flush = { req, ino, fi in
            let core = sessionCore(req)
            core.operations.flush(FuseRequestContext(req), ino: ino, fileInfo: fileInfo(fi), reply: makeReply(core, req, "flush"))
        }
        ops.release = { req, ino, fi in
            let core = sessionCore(req)
            core.operations.release(
                FuseRequestContext(req), ino: ino, fileInfo: fileInfo(fi), reply: makeReply(core, req, "release"))
        }
        ops.fsync = { req, ino, datasync, fi in
            let core = sessionCore(req)
            core.operations.fsync(
                FuseRequestContext(req), ino: ino, dataOnly: datasync != 0, fileInfo: fileInfo(fi),
                reply: makeReply(core, req, "fsync"))
        }
        ops.opendir = { req, ino, fi in
            let core = sessionCore(req)
            core.operations.opendir(
                FuseRequestContext(req), ino: ino, fileInfo: fileInfo(fi), reply: makeReply(core, req, "opendir"))
        }
        ops.readdir = { req, ino, size, offset, fi in
            let core = sessionCore(req)
            core.operations.readdir(
                FuseRequestContext(req), ino: ino, size: size, offset: Int64(offset), fileInfo: fileInfo(fi),
                reply: makeReply(core, req, "readdir", limit: size))
        }
        ops.readdirplus = { req, ino, size, offset, fi in
            let core = sessionCore(req)
            core.operations.readdirplus(
                FuseRequestContext(req), ino: ino, size: size, offset: Int64(offset), fileInfo: fileInfo(fi),
                reply: makeReply(core, req, "readdirplus", limit: size))
        }
        ops.releasedir = { req, ino, fi in
            let core = sessionCore(req)
            core.operations.releasedir(
                FuseRequestContext(req), ino: ino, fileInfo: fileInfo(fi), reply: makeReply(core, req, "releasedir"))
        }
        ops.fsyncdir = { req, ino, datasync, fi in
            let core = sessionCore(req)
            core.operations.fsyncdir(
                FuseRequestContext(req), ino: ino, dataOnly: datasync != 0, fileInfo: fileInfo(fi),
                reply: makeReply(core, req, "fsyncdir"))
        }
        ops.statfs = { req, ino in
            let core = sessionCore(req)
            core.operations.statfs(FuseRequestContext(req), ino: ino, reply: makeReply(core, req, "statfs"))
        }
        ops.access = { req, ino, mask in
            let core = sessionCore(req)
            core.operations.access(FuseRequestContext(req), ino: ino, mask: mask, reply: makeReply(core, req, "access"))
        }
        ops.create = { req, parent, name, mode, fi in
            named(req, name) { core, context, name in
                core.operations.create(
                    context, parent: parent, name: name, mode: mode, fileInfo: fileInfo(fi), reply: makeReply(core, req, "create"))
            }
        }
        return ops
    }
}

// Free functions: a C callback cannot capture context, not even the enum's metatype.

private func sessionCore(_ req: OpaquePointer?) -> SessionCore {
    SessionCore.from(fuse_req_userdata(req)!)
}

private func makeReply<Kind>(
    _ core: SessionCore, _ req: OpaquePointer?, _ operation: StaticString, limit: Int = 0
) -> FuseReply<Kind> {
    FuseReply(PendingRequest(request: req!, core: core, operation: operation), limit: limit)
}

/// libfuse passes a file info to every handle-based operation; an empty one stands in otherwise.
private func fileInfo(_ fi: UnsafeMutablePointer<fuse_file_info>?) -> FuseFileInfo {
    FuseFileInfo(fi) ?? FuseFileInfo()
}

/// Decodes `name` and calls `body`, or answers `EINVAL` if it is not UTF-8.
private func named(
    _ req: OpaquePointer?, _ name: UnsafePointer<CChar>?,
    _ body: (SessionCore, FuseRequestContext, String) -> Void
) {
    guard let name, let decoded = String(validatingCString: name) else {
        fuse_reply_err(req, EINVAL)
        return
    }
    body(sessionCore(req), FuseRequestContext(req), decoded)
}
