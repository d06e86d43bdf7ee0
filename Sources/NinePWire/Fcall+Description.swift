import NIOCore

// A transcript line per message, in the manner of lib9p's chatty9p (fcallfmt):
// "Twalk tag 3 fid 0 newfid 1 nwname 2 0:usr 1:glenda".

extension Message: CustomStringConvertible {
    public var description: String {
        switch self {
        case .tversion(let m): "Tversion msize \(m.msize) version '\(m.version)'"
        case .rversion(let m): "Rversion msize \(m.msize) version '\(m.version)'"
        case .tauth(let m): "Tauth afid \(m.afid) uname \(m.uname) aname \(m.aname)"
        case .rauth(let m): "Rauth qid \(m.aqid)"
        case .tattach(let m): "Tattach fid \(m.fid) afid \(m.afid) uname \(m.uname) aname \(m.aname)"
        case .rattach(let m): "Rattach qid \(m.qid)"
        case .rerror(let m): "Rerror ename \(m.ename)"
        case .tflush(let m): "Tflush oldtag \(m.oldtag)"
        case .rflush: "Rflush"
        case .twalk(let m):
            "Twalk fid \(m.fid) newfid \(m.newfid) nwname \(m.wname.count)"
                + m.wname.enumerated().map { " \($0.offset):\($0.element)" }.joined()
        case .rwalk(let m):
            "Rwalk nwqid \(m.wqid.count)" + m.wqid.enumerated().map { " \($0.offset):\($0.element)" }.joined()
        case .topen(let m): "Topen fid \(m.fid) mode \(m.mode)"
        case .ropen(let m): "Ropen qid \(m.qid) iounit \(m.iounit)"
        case .tcreate(let m): "Tcreate fid \(m.fid) name \(m.name) perm \(m.perm) (0\(String(m.perm.rawValue, radix: 8))) mode \(m.mode)"
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
        }
    }
}

extension Fcall: CustomStringConvertible {
    public var description: String {
        let text = message.description
        guard let space = text.firstIndex(of: " ") else { return "\(text) tag \(tag)" }
        return "\(text[..<space]) tag \(tag)\(text[space...])"
    }
}
