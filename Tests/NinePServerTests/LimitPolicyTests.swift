import NIOCore
import NinePServer
import Testing

/// The limits' policies as values (STYLE rule 5), driven by tables and a
/// clock that is just a number.
@Suite("limit policies")
struct LimitPolicyTests {
    // MARK: ConnectionAdmission

    /// Each step: (admit or release, peer, expected decision for admits).
    @Test(arguments: [
        // The per-peer cap: the third from one address is refused, another address is not.
        ([("+", "10.0.0.1", "admit"), ("+", "10.0.0.1", "admit"), ("+", "10.0.0.1", "too many connections from 10.0.0.1 (limit 2)"),
          ("+", "10.0.0.2", "admit")], 3, 2),
        // The total cap counts every peer; a release makes room again.
        ([("+", "a", "admit"), ("+", "b", "admit"), ("+", "c", "admit"), ("+", "d", "server busy: too many connections (limit 3)"),
          ("-", "b", ""), ("+", "d", "admit")], 3, 2),
        // Releasing what was never admitted changes nothing.
        ([("-", "x", ""), ("+", "x", "admit"), ("+", "x", "too many connections from x (limit 1)")], 5, 1),
    ] as [([(String, String, String)], Int, Int)])
    func admission(steps: [(String, String, String)], maxConnections: Int, maxPerPeer: Int) {
        var policy = ConnectionAdmission(maxConnections: maxConnections, maxPerPeer: maxPerPeer)
        for (op, peer, expected) in steps {
            if op == "-" {
                policy.release(peer: peer)
                continue
            }
            let decision = policy.admit(peer: peer)
            #expect(decision == (expected == "admit" ? .admit : .refuse(expected)), "\(op) \(peer)")
            #expect(policy.total == policy.perPeer.values.reduce(0, +))
        }
    }

    // MARK: ReplyBudget

    @Test(arguments: [
        // (bytes, held by the connection) → decision, for a budget of 100 per connection, 250 in all.
        ([(60, 0, "granted"), (50, 60, "overConnectionLimit"), (40, 60, "granted")], 100, 250),
        // The server limit: connections holding something wait; one holding nothing always gets one request.
        ([(100, 0, "granted"), (100, 0, "granted"), (40, 100, "overConnectionLimit"), (40, 10, "granted"),
          (20, 10, "overServerLimit"), (100, 0, "granted")], 100, 250),
    ] as [([(Int, Int, String)], Int, Int)])
    func budget(steps: [(Int, Int, String)], connectionLimit: Int, serverLimit: Int) {
        var budget = ReplyBudget(connectionLimit: connectionLimit, serverLimit: serverLimit)
        var used = 0
        for (bytes, held, expected) in steps {
            let decision = budget.charge(bytes, held: held)
            #expect("\(decision)" == expected, "\(bytes) with \(held) held")
            if decision == .granted { used += bytes }
            #expect(budget.used == used)
        }
        budget.release(used)
        #expect(budget.used == 0)
    }

    // MARK: ConnectionWatch

    private static func at(_ seconds: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(1_000 + seconds) * 1_000_000_000) }

    /// Events: "idle", "busy", "partial", "whole" at a second; checks: "?" expecting an action.
    @Test(arguments: [
        // Idle from the start: closed when the idle timeout has run.
        ([(0, "?", "wait 10"), (9, "?", "wait 10"), (10, "?", "idle for 10 s")], "idle"),
        // Busy resets idleness; idle again restarts the clock.
        ([(5, "busy", ""), (12, "?", "wait -"), (20, "idle", ""), (29, "?", "wait 30"), (30, "?", "idle for 10 s")], "busy"),
        // A half-sent message is stalled after 3 s from its first byte, however bytes trickle.
        ([(0, "busy", ""), (1, "partial", ""), (2, "partial", ""), (3, "?", "wait 4"), (4, "?", "message incomplete after 3 s")], "stall"),
        // A message completed in time stops the stall clock.
        ([(0, "busy", ""), (1, "partial", ""), (3, "whole", ""), (50, "?", "wait -")], "completed"),
    ] as [([(Int64, String, String)], String)])
    func watch(steps: [(Int64, String, String)], name: String) {
        var watch = ConnectionWatch(idleTimeout: .seconds(10), stallTimeout: .seconds(3), now: Self.at(0))
        for (second, event, expected) in steps {
            let now = Self.at(second)
            switch event {
            case "idle": watch.busy(false, now: now)
            case "busy": watch.busy(true, now: now)
            case "partial": watch.received(partial: true, now: now)
            case "whole": watch.received(partial: false, now: now)
            default:
                let shown: String
                switch watch.check(now: now) {
                case .wait(let until?): shown = "wait \((until.uptimeNanoseconds / 1_000_000_000) - 1_000)"
                case .wait(nil): shown = "wait -"
                case .close(let reason): shown = reason
                }
                #expect(shown == expected, "\(name) at \(second)")
            }
        }
    }

    @Test func watchWithoutTimeoutsNeverCloses() {
        var watch = ConnectionWatch(idleTimeout: nil, stallTimeout: nil, now: Self.at(0))
        watch.received(partial: true, now: Self.at(1))
        #expect(watch.check(now: Self.at(1_000_000)) == .wait(until: nil))
    }

    // MARK: DescriptorPlan

    @Test(arguments: [
        // (limit, asked) → connections, fids, lowered?
        (1_024, nil, 448, 224, false),
        (20_000, nil, 1_024, 9_424, false),
        (20_000, 2_500, 2_500, 8_686, false),
        (256, 1_000, 64, 32, true),
        (1_048_576, nil, 1_024, 523_712, false),
    ] as [(Int, Int?, Int, Int, Bool)])
    func descriptorPlan(limit: Int, asked: Int?, connections: Int, fids: Int, lowered: Bool) {
        let plan = DescriptorPlan(descriptorLimit: limit, maxConnections: asked)
        #expect(plan.maxConnections == connections)
        #expect(plan.maxFids == fids)
        #expect((plan.lowered != nil) == lowered)
        // Connections and two descriptors per fid never exceed what is usable.
        #expect(plan.maxConnections + 2 * plan.maxFids <= limit - DescriptorPlan.reserve)
    }
}
