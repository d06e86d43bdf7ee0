import NinePWire

/// What recovery does with a request that was in flight when the connection
/// dropped (steps 8 and 9 of a reconnect).
enum InFlightTreatment: Hashable, Sendable {
    /// Safe to send again: walk, open, read, stat, clunk, a wstat that does
    /// not rename, a write to a file that is not append-only, version,
    /// attach, auth, flush.
    case replay
    /// Not safe: the server may already have done it. Fail with
    /// `ReconnectError.mayHaveHappened(operation:)` and never resend.
    case mayHaveHappened(operation: String)

    /// Classifies `message` using what `registry` knows of its fid.
    ///
    /// A write is non-idempotent when its fid's qid has QTAPPEND (the echo of
    /// DMAPPEND): the offset is ignored and a second copy would be appended.
    /// Every other write names its offset and writing the same bytes there
    /// again leaves the same file.
    init(_ message: Message, registry: FidRegistry) {
        func path(_ fid: Fid) -> String { registry[fid]?.pathDescription ?? "fid \(fid)" }
        switch message {
        case .tcreate(let t):
            let directory = registry[t.fid].map { $0.path + [t.name] }
            let name = directory.map { $0.joined(separator: "/") } ?? t.name
            self = .mayHaveHappened(operation: "create of '\(name)'")
        case .tremove(let t):
            self = .mayHaveHappened(operation: "remove of '\(path(t.fid))'")
        case .twstat(let t) where t.stat.changesName:
            self = .mayHaveHappened(operation: "rename of '\(path(t.fid))' to '\(t.stat.name)'")
        case .twrite(let t) where registry[t.fid]?.qid.type.contains(.append) == true:
            self = .mayHaveHappened(operation: "append-only write to '\(path(t.fid))'")
        default:
            self = .replay
        }
    }
}
