import NIOCore

// A transcript line per message, in the manner of lib9p's chatty9p (fcallfmt):
// "Twalk tag 3 fid 0 newfid 1 nwname 2 0:usr 1:glenda".

extension Message: CustomStringConvertible {
    public var description: String {
        switch self {
        case .tversion(let m): "Tversion msize \(m.msize) version '\(m.version)'"
        case .rversion(let m): "Rversion msize \(m.msize) version '\(m.version)'"
        case .tauth(let m): "Tauth afid \(m.afid) uname \(m.uname) aname \(m.aname)" + Self.numericUname(m.nUname)
        case .rauth(let m): "Rauth qid \(m.aqid)"
        case .tattach(let m):
            "Tattach fid \(m.fid) afid \(m.afid) uname \(m.uname) aname \(m.aname)" + Self.numericUname(m.nUname)
        case .rattach(let m): "Rattach qid \(m.qid)"
        case .rerror(let m): "Rerror ename \(m.ename)" + (m.errno == 0 ? "" : " errno \(m.errno)")
        case .tflush(let m): "Tflush oldtag \(m.oldtag)"
        case .rflush: "Rflush"
        case .twalk(let m):
            "Twalk fid \(m.fid) newfid \(m.newfid) nwname \(m.wname.count)"
                + m.wname.enumerated().map { " \($0.offset):\($0.element)" }.joined()
        case .rwalk(let m):
            "Rwalk nwqid \(m.wqid.count)" + m.wqid.enumerated().map { " \($0.offset):\($0.element)" }.joined()
        case .topen(let m): "Topen fid \(m.fid) mode \(m.mode)"
        case .ropen(let m): "Ropen qid \(m.qid) iounit \(m.iounit)"
        case .tcreate(let m):
            "Tcreate fid \(m.fid) name \(m.name) perm \(m.perm) (0\(String(m.perm.rawValue, radix: 8))) mode \(m.mode)"
                + (m.extension.isEmpty ? "" : " extension \(m.extension)")
        case .rcreate(let m): "Rcreate qid \(m.qid) iounit \(m.iounit)"
        case .tread(let m): "Tread fid \(m.fid) offset \(m.offset) count \(m.count)"
        case .rread(let m): "Rread count \(m.data.readableBytes)"
        case .twrite(let m): "Twrite fid \(m.fid) offset \(m.offset) count \(m.data.readableBytes)"
        case .rwrite(let m): "Rwrite count \(m.count)"
        case .tclunk(let m): "Tclunk fid \(m.fid)"
        case .rclunk: "Rclunk"
        case .tremove(let m): "Tremove fid \(m.fid)"
        case .rremove: "Rremove"
        case .tstat(let m): "Tstat fid \(m.fid)"
        case .rstat(let m): "Rstat \(m.stat)"
        case .twstat(let m): "Twstat fid \(m.fid) \(m.stat)"
        case .rwstat: "Rwstat"
        case .rlerror(let m): "Rlerror ecode \(m.ecode)"
        case .tstatfs(let m): "Tstatfs fid \(m.fid)"
        case .rstatfs(let m):
            "Rstatfs type \(m.type) bsize \(m.bsize) blocks \(m.blocks) bfree \(m.bfree) bavail \(m.bavail) files \(m.files) ffree \(m.ffree) fsid \(m.fsid) namelen \(m.namelen)"
        case .tlopen(let m): "Tlopen fid \(m.fid) flags \(m.flags)"
        case .rlopen(let m): "Rlopen qid \(m.qid) iounit \(m.iounit)"
        case .tlcreate(let m):
            "Tlcreate fid \(m.fid) name \(m.name) flags \(m.flags) mode 0\(String(m.mode, radix: 8)) gid \(m.gid)"
        case .rlcreate(let m): "Rlcreate qid \(m.qid) iounit \(m.iounit)"
        case .tsymlink(let m): "Tsymlink fid \(m.fid) name \(m.name) symtgt \(m.symtgt) gid \(m.gid)"
        case .rsymlink(let m): "Rsymlink qid \(m.qid)"
        case .tmknod(let m):
            "Tmknod dfid \(m.dfid) name \(m.name) mode 0\(String(m.mode, radix: 8)) major \(m.major) minor \(m.minor) gid \(m.gid)"
        case .rmknod(let m): "Rmknod qid \(m.qid)"
        case .trename(let m): "Trename fid \(m.fid) dfid \(m.dfid) name \(m.name)"
        case .rrename: "Rrename"
        case .treadlink(let m): "Treadlink fid \(m.fid)"
        case .rreadlink(let m): "Rreadlink target \(m.target)"
        case .tgetattr(let m): "Tgetattr fid \(m.fid) request_mask 0x\(String(m.requestMask.rawValue, radix: 16))"
        case .rgetattr(let m):
            "Rgetattr valid 0x\(String(m.attributes.valid.rawValue, radix: 16)) qid \(m.attributes.qid) mode 0\(String(m.attributes.mode, radix: 8)) uid \(m.attributes.uid) gid \(m.attributes.gid) nlink \(m.attributes.nlink) size \(m.attributes.size) mtime \(m.attributes.mtimeSec).\(m.attributes.mtimeNsec)"
        case .tsetattr(let m):
            "Tsetattr fid \(m.fid) valid 0x\(String(m.valid.rawValue, radix: 16)) mode 0\(String(m.mode, radix: 8)) uid \(m.uid) gid \(m.gid) size \(m.size) atime \(m.atimeSec).\(m.atimeNsec) mtime \(m.mtimeSec).\(m.mtimeNsec)"
        case .rsetattr: "Rsetattr"
        case .txattrwalk(let m): "Txattrwalk fid \(m.fid) newfid \(m.newfid) name '\(m.name)'"
        case .rxattrwalk(let m): "Rxattrwalk size \(m.size)"
        case .txattrcreate(let m): "Txattrcreate fid \(m.fid) name \(m.name) size \(m.attrSize) flags \(m.flags)"
        case .rxattrcreate: "Rxattrcreate"
        case .treaddir(let m): "Treaddir fid \(m.fid) offset \(m.offset) count \(m.count)"
        case .rreaddir(let m): "Rreaddir count \(m.data.readableBytes)"
        case .tfsync(let m): "Tfsync fid \(m.fid) datasync \(m.datasync)"
        case .rfsync: "Rfsync"
        case .tlock(let m):
            "Tlock fid \(m.fid) type \(m.type) flags \(m.flags.rawValue) start \(m.start) length \(m.length) proc_id \(m.procId) client_id \(m.clientId)"
        case .rlock(let m): "Rlock status \(m.status)"
        case .tgetlock(let m):
            "Tgetlock fid \(m.fid) type \(m.type) start \(m.start) length \(m.length) proc_id \(m.procId) client_id \(m.clientId)"
        case .rgetlock(let m):
            "Rgetlock type \(m.type) start \(m.start) length \(m.length) proc_id \(m.procId) client_id \(m.clientId)"
        case .tlink(let m): "Tlink dfid \(m.dfid) fid \(m.fid) name \(m.name)"
        case .rlink: "Rlink"
        case .tmkdir(let m): "Tmkdir dfid \(m.dfid) name \(m.name) mode 0\(String(m.mode, radix: 8)) gid \(m.gid)"
        case .rmkdir(let m): "Rmkdir qid \(m.qid)"
        case .trenameat(let m):
            "Trenameat olddirfid \(m.olddirfid) oldname \(m.oldname) newdirfid \(m.newdirfid) newname \(m.newname)"
        case .rrenameat: "Rrenameat"
        case .tunlinkat(let m): "Tunlinkat dirfd \(m.dirfd) name \(m.name) flags 0x\(String(m.flags, radix: 16))"
        case .runlinkat: "Runlinkat"
        }
    }

    private static func numericUname(_ n: UInt32) -> String {
        n == NineP.nonuname ? "" : " n_uname \(n)"
    }
}

extension Fcall: CustomStringConvertible {
    public var description: String {
        let text = message.description
        guard let space = text.firstIndex(of: " ") else { return "\(text) tag \(tag)" }
        return "\(text[..<space]) tag \(tag)\(text[space...])"
    }
}
