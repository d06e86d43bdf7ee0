public import NIOCore

/// What serves the contents of a tree `File` whose data the tree does not
/// hold (a synthetic file, such as one made by `File2Chan`). A
/// `FileTreeServer` still walks to, stats and checks permissions of such a
/// file; it hands opens, reads, writes and closes of it to the backing.
///
/// Who calls: every method runs on the event loop of the connection whose
/// request it is (one per connection, so calls for different fids may
/// come concurrently from different threads). The request methods may
/// answer later, from any thread; they must not block.
public protocol FileBacking: AnyObject, Sendable {
    /// `fid` has passed the permission checks of Topen and is about to be
    /// answered with Ropen: a new open of the file.
    func opened(_ fid: ServerFid)
    /// Answers a Tread of an open fid with at most `count` bytes.
    func read(_ r: Request, fid: ServerFid, offset: UInt64, count: UInt32)
    /// Answers a Twrite of an open fid with the count written.
    func write(_ r: Request, fid: ServerFid, offset: UInt64, data: ByteBuffer)
    /// An open fid was clunked (or its session ended): the open is over.
    func closed(_ fid: ServerFid)
}
