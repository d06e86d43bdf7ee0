@testable import NinePFuse
import NinePWire
import Testing

/// Lookups of names known to be missing (`KnownNames`, kept per directory
/// by `NodeTable`): when they are answered without the server, for how
/// long, and what keeps the set right.
@Suite("Known names: missing names answered without a round trip")
struct KnownNamesTests {
    /// One second, the default negative timeout, in nanoseconds.
    let second: UInt64 = 1_000_000_000
    let rootQid = Qid(type: .dir, path: 100)

    /// A `NodeTable` by reference, so that its mutating methods can be
    /// called inside `#expect`.
    final class Table {
        var table: NodeTable
        init(root: Qid) { table = NodeTable(rootFid: Fid(0), rootQid: root) }
        var known: [UInt64: KnownNames] { table.known }
        func directory(_ name: String, path: UInt64) -> UInt64 {
            table.remember(qid: Qid(type: .dir, path: path), parent: NodeTable.root, name: name).node!
        }
        func lookUp(_ name: String, in dir: UInt64, now: UInt64, validity: UInt64) -> (answer: KnownNames.Answer, read: Bool) {
            table.lookUp(name, in: dir, now: now, validity: validity)
        }
        func missed(_ name: String, in dir: UInt64, now: UInt64, validity: UInt64) -> Bool {
            table.missed(name, in: dir, now: now, validity: validity)
        }
        func nameChanged(_ name: String, in dir: UInt64, present: Bool) { table.nameChanged(name, in: dir, present: present) }
        func madeDirectory(_ id: UInt64, asOf: UInt64) { table.madeDirectory(id, asOf: asOf) }
        func listed(_ dir: UInt64, _ names: [String], asOf: UInt64) { table.listed(dir, names, asOf: asOf) }
        func listingFailed(_ dir: UInt64) { table.listingFailed(dir) }
        func forgetNames(of dir: UInt64) { table.forgetNames(of: dir) }
        func forgetAllNames() { table.forgetAllNames() }
        func forget(_ id: UInt64, count: UInt64) { _ = table.forget(id, count: count) }
        func removeAll() { _ = table.removeAll() }
    }

    /// A table with directory "d" (node returned), made by this mount at `madeAt`.
    func tableWithMadeDirectory(madeAt: UInt64) -> (Table, UInt64) {
        let table = Table(root: rootQid)
        let d = table.directory("d", path: 7)
        table.madeDirectory(d, asOf: madeAt)
        return (table, d)
    }

    @Test func aDirectoryJustMadeAnswersEveryNameMissingUntilTheTimeout() {
        let (table, d) = tableWithMadeDirectory(madeAt: 10 * second)
        #expect(table.lookUp("f1", in: d, now: 10 * second + 1000, validity: second).answer == .missing(forNanoseconds: second - 1000))
        // What the kernel may remember shrinks with the set's age.
        #expect(table.lookUp("f2", in: d, now: 10 * second + second / 2, validity: second).answer == .missing(forNanoseconds: second / 2))
        // At the timeout the server is asked again.
        #expect(table.lookUp("f3", in: d, now: 11 * second, validity: second).answer == .ask)
        // Other directories know nothing.
        #expect(table.lookUp("f1", in: NodeTable.root, now: 10 * second, validity: second).answer == .ask)
        // A clock that went backwards (or a set from the future) is not trusted.
        #expect(table.lookUp("f1", in: d, now: 9 * second, validity: second).answer == .ask)
    }

    @Test func theMountsOwnChangesKeepTheSetRight() {
        let (table, d) = tableWithMadeDirectory(madeAt: second)
        let now = second + 10
        table.nameChanged("a", in: d, present: true)  // create
        table.nameChanged("b", in: d, present: true)
        #expect(table.lookUp("a", in: d, now: now, validity: second).answer == .ask)
        table.nameChanged("a", in: d, present: false)  // unlink
        #expect(table.lookUp("a", in: d, now: now, validity: second).answer == .missing(forNanoseconds: second - 10))
        table.nameChanged("b", in: d, present: false)  // rename b → c
        table.nameChanged("c", in: d, present: true)
        #expect(table.lookUp("b", in: d, now: now, validity: second).answer != .ask)
        #expect(table.lookUp("c", in: d, now: now, validity: second).answer == .ask)
        // A lost answer to a create, remove or rename: nothing is known any more.
        table.forgetNames(of: d)
        #expect(table.lookUp("b", in: d, now: now, validity: second).answer == .ask)
    }

    @Test func theSetGoesWithItsNodeAndWithTheConnection() {
        let (table, d) = tableWithMadeDirectory(madeAt: second)
        #expect(table.known[d] != nil)
        table.forget(d, count: 1)
        #expect(table.known[d] == nil)
        let (other, e) = tableWithMadeDirectory(madeAt: second)
        other.forgetAllNames()
        #expect(other.lookUp("x", in: e, now: second + 1, validity: second).answer == .ask)
        let (closed, f) = tableWithMadeDirectory(madeAt: second)
        closed.removeAll()
        #expect(closed.known.isEmpty)
        #expect(!closed.missed("x", in: f, now: second, validity: second))
    }

    /// A directory filled for longer than the timeout has its listing read
    /// again before the set expires, once enough lookups were answered from it.
    @Test func aBusySetIsReadAgainBeforeItExpires() {
        let (table, d) = tableWithMadeDirectory(madeAt: second)
        // In its first three quarters: answered, never read.
        for i in 0..<100 {
            let r = table.lookUp("early\(i)", in: d, now: second + UInt64(i) * 1000, validity: second)
            #expect(r.answer != .ask && !r.read)
        }
        let late = second + second * 3 / 4
        let first = table.lookUp("late0", in: d, now: late, validity: second)
        #expect(first.answer != .ask && first.read)
        // One read at a time.
        #expect(!table.lookUp("late1", in: d, now: late + 1, validity: second).read)
        // Changes made while the listing is read are replayed on it.
        table.nameChanged("new", in: d, present: true)
        table.nameChanged("gone", in: d, present: false)
        table.listed(d, ["old", "gone"], asOf: late)
        #expect(table.lookUp("old", in: d, now: late + 10, validity: second).answer == .ask)
        #expect(table.lookUp("new", in: d, now: late + 10, validity: second).answer == .ask)
        #expect(table.lookUp("gone", in: d, now: late + 10, validity: second).answer == .missing(forNanoseconds: second - 10))
        // Valid from the moment the listing was asked for.
        #expect(table.lookUp("x", in: d, now: late + second - 1, validity: second).answer == .missing(forNanoseconds: 1))
        #expect(table.lookUp("x", in: d, now: late + second, validity: second).answer == .ask)
    }

    @Test func aQuietSetIsNotReadAgain() {
        let (table, d) = tableWithMadeDirectory(madeAt: second)
        let late = second + second * 9 / 10
        for i in 0..<3 {
            #expect(!table.lookUp("n\(i)", in: d, now: late, validity: second).read)
        }
        // Expired with too few lookups: the server answers, one by one,
        // until misses there add up to the threshold.
        for i in 4..<KnownNames.refreshThreshold(count: 0) {
            #expect(!table.missed("n\(i)", in: d, now: 3 * second, validity: second))
        }
        #expect(table.known[d]?.names.isEmpty == true)
        #expect(table.missed("last", in: d, now: 3 * second, validity: second))
    }

    /// A directory this mount did not make gets a set once lookups of
    /// missing names there keep reaching the server.
    @Test func missesAtTheServerLeadToAListing() {
        let table = Table(root: rootQid)
        let d = table.directory("d", path: 7)
        let threshold = KnownNames.refreshThreshold(count: 0)
        for i in 1..<threshold {
            #expect(!table.missed("m\(i)", in: d, now: second, validity: second))
            #expect(table.lookUp("m\(i)", in: d, now: second, validity: second).answer == .ask)
        }
        #expect(table.missed("last", in: d, now: second, validity: second))
        #expect(!table.missed("again", in: d, now: second, validity: second))  // being read
        table.listed(d, ["a", "b"], asOf: second)
        #expect(table.lookUp("a", in: d, now: second + 1, validity: second).answer == .ask)
        #expect(table.lookUp("zz", in: d, now: second + 1, validity: second).answer == .missing(forNanoseconds: second - 1))
        // A lookup the server answered shows a name the set lacked.
        table.nameChanged("zz", in: d, present: true)
        #expect(table.lookUp("zz", in: d, now: second + 2, validity: second).answer == .ask)
    }

    @Test func aFailedReadLeavesTheSetToExpire() {
        let table = Table(root: rootQid)
        let d = table.directory("d", path: 7)
        for i in 0..<KnownNames.refreshThreshold(count: 0) { _ = table.missed("m\(i)", in: d, now: second, validity: second) }
        #expect(table.known[d]?.isReading == true)
        table.listingFailed(d)
        #expect(table.known[d]?.isReading == false)
        #expect(table.lookUp("m0", in: d, now: second, validity: second).answer == .ask)
        // The next miss tries again.
        #expect(table.missed("m9", in: d, now: second, validity: second))
    }

    @Test func aListingTooLargeIsDroppedAndNotReadAgain() {
        let table = Table(root: rootQid)
        let d = table.directory("d", path: 7)
        for i in 0..<KnownNames.refreshThreshold(count: 0) { _ = table.missed("m\(i)", in: d, now: second, validity: second) }
        table.listed(d, (0...KnownNames.maximumCount).map { "n\($0)" }, asOf: second)
        #expect(table.known[d]?.tooLarge == true)
        #expect(table.known[d]?.names.isEmpty == true)
        #expect(table.lookUp("zz", in: d, now: second + 1, validity: second).answer == .ask)
        for i in 0..<100 { #expect(!table.missed("x\(i)", in: d, now: second + 2, validity: second)) }
    }
}
