public import NinePServer
public import NinePWire

/// A file server whose root attaches and whose every walk fails with
/// `error`: stands in for a server (a srv registry, say) that answers an
/// error of its own, to show that the error reaches the user verbatim.
///
/// Who calls: the service loop, on its event loop; stateless.
public final class RefusingWalks: FileServer {
    /// The error every walk answers.
    public let error: NinePError

    public init(_ error: NinePError) { self.error = error }

    public func attach(_ r: Request) { r.respond(.rattach(Rattach(qid: Qid(type: .dir, version: 0, path: 0)))) }
    public func walk1(_ fid: ServerFid, name: String) throws(NinePError) -> Qid { throw error }
    public func read(_ r: Request) { r.respond(error: .botch) }
    public func stat(_ r: Request) { r.respond(error: .botch) }
}
