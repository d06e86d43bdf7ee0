import NinePServer
import NinePWire

/// A FileServer that hands every request to `inner`, except those its
/// conforming type answers itself: for wrappers that watch or disturb a
/// real server.
protocol ForwardingFileServer: FileServer {
    var inner: any FileServer { get }
}

extension ForwardingFileServer {
    func attach(_ r: Request) { inner.attach(r) }
    func auth(_ r: Request) { inner.auth(r) }
    func walk(_ r: Request) { inner.walk(r) }
    func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid { try inner.walk1(fid, name: name) }
    func clone(_ oldfid: ServerFid, _ newfid: ServerFid) throws(NinePError) { try inner.clone(oldfid, newfid) }
    func open(_ r: Request) { inner.open(r) }
    func create(_ r: Request) { inner.create(r) }
    func read(_ r: Request) { inner.read(r) }
    func write(_ r: Request) { inner.write(r) }
    func remove(_ r: Request) { inner.remove(r) }
    func stat(_ r: Request) { inner.stat(r) }
    func wstat(_ r: Request) { inner.wstat(r) }
    func flush(_ r: Request) { inner.flush(r) }
    func destroyFid(_ fid: ServerFid) { inner.destroyFid(fid) }
    func destroyRequest(_ r: Request) { inner.destroyRequest(r) }
    func end() { inner.end() }
}
