/// Every name of a directory, as the mount last saw them: so that a lookup
/// of a name that is not there is answered at once instead of by a Twalk.
///
/// Creating a file costs the kernel a LOOKUP of the new name (to learn
/// that it is missing) before the CREATE; answered by the server, that is
/// a round trip for a foregone answer whenever a program fills a directory
/// (cp -r, tar x, a build's output). The mount knows every name of a
/// directory when it made the directory itself (it was empty) or when it
/// read the directory's whole listing, and it keeps that set up to date
/// with its own creates, removes and renames. For as long as the
/// negative timeout (`negative_timeout`, 1 s by default) after the moment
/// the set was known to be complete, a name not in it is answered "no such
/// file". That is the promise the kernel makes for a name it was told is
/// missing: a file another client makes may stay unseen for that long; 0
/// turns both off. Names in the set are always asked of the server.
///
/// A directory still being filled when its set expires has its listing
/// read again (one Topen and a Tread per msize of entries) if enough
/// lookups were answered from the set meanwhile to pay for the read. A
/// directory without a set gets one the same way once enough lookups of
/// missing names went to the server.
///
/// Pure bookkeeping: `NodeTable` keeps one per directory node, dropped with
/// the node; the bridge reads the listings. Times are monotonic nanoseconds.
struct KnownNames: Sendable {
    /// Sets larger than this are not kept (memory; the listing's cost).
    static let maximumCount = 50_000
    /// Lookups that must have been answered from a set (or have missed at
    /// the server, without one) before the listing is read again.
    static func refreshThreshold(count: Int) -> Int { max(8, count / 64) }

    private(set) var names: Set<String>
    /// The listing was asked for at this moment (or the directory made): it
    /// holds every name the directory had then, and since then this
    /// mount's own changes. 0: no complete set (only `lookups` counts).
    private(set) var asOf: UInt64
    /// Lookups of missing names since `asOf`: answered from the set, or
    /// by the server when there was none.
    private(set) var lookups = 0
    /// A listing is being read: this mount's changes since it was asked
    /// for, in order, to replay on it (`nil`: none being read).
    private var journal: [(name: String, present: Bool)]?
    /// The listing had more than `maximumCount` names: not read again.
    private(set) var tooLarge = false

    var isReading: Bool { journal != nil }

    /// No set yet: only lookups are counted.
    init() {
        names = []
        asOf = 0
    }

    /// A directory this mount made, empty at `asOf`.
    init(empty asOf: UInt64) {
        names = []
        self.asOf = asOf
    }

    enum Answer: Equatable {
        /// Not there: answer so, for the kernel to remember for this many nanoseconds.
        case missing(forNanoseconds: UInt64)
        /// Ask the server.
        case ask
    }

    /// Whether `name` is known to be missing at `now`; `validity` is the
    /// negative timeout. `read` says whether to read the listing now (the
    /// set is in the last quarter of its life and lookups keep coming).
    mutating func lookUp(_ name: String, now: UInt64, validity: UInt64) -> (answer: Answer, read: Bool) {
        guard asOf > 0, now >= asOf, now - asOf < validity, !names.contains(name) else { return (.ask, false) }
        lookups += 1
        let read = !isReading && now - asOf >= validity / 4 * 3 && lookups >= Self.refreshThreshold(count: names.count)
        if read { journal = [] }
        return (.missing(forNanoseconds: validity - (now - asOf)), read)
    }

    /// The server said `name` is missing. Returns whether to read the
    /// listing now: no valid set, and enough such misses since the last.
    mutating func missed(_ name: String, now: UInt64, validity: UInt64) -> Bool {
        changed(name, present: false)
        let valid = asOf > 0 && now >= asOf && now - asOf < validity
        if !valid && asOf > 0 && !isReading {
            // Expired: keep the count, drop the names (memory).
            names = []
            asOf = 0
        }
        lookups += 1
        guard !valid, !isReading, !tooLarge, lookups >= Self.refreshThreshold(count: names.count) else { return false }
        journal = []
        return true
    }

    /// This mount made or removed `name` (or the server showed it there or
    /// not there).
    mutating func changed(_ name: String, present: Bool) {
        journal?.append((name, present))
        guard asOf > 0 else { return }
        if present { names.insert(name) } else { names.remove(name) }
    }

    /// The listing asked for at `asOf` came: every name in it, with this
    /// mount's changes since replayed. One too large to keep is dropped,
    /// and the directory's listing is not read again.
    mutating func listed(_ listing: some Sequence<String>, asOf: UInt64) {
        var names = Set(listing)
        for (name, present) in journal ?? [] {
            if present { names.insert(name) } else { names.remove(name) }
        }
        journal = nil
        guard names.count <= Self.maximumCount else {
            tooLarge = true
            self.names = []
            self.asOf = 0
            return
        }
        self.names = names
        self.asOf = asOf
        lookups = 0
    }

    /// The listing could not be read: the set ages out as it would have.
    mutating func listingFailed() {
        journal = nil
    }
}
