import Dispatch
import Foundation
@testable import FuseLowLevel
import Glibc
import NinePTesting
import Synchronization
import Testing

/// Answering later, answering once, defaults and interrupts.
@Suite(.enabled(if: TestMount.deviceAvailable))
struct ReplyTests {
    @Test func repliesSentLaterFromAnotherThread() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        var st = stat()
        #expect(stat(mount.path("late.txt"), &st) == 0)
        #expect(readFile(mount.path("late.txt")) == Array("late hello\n".utf8))
        #expect(mount.fs.record.withLock { $0.lateAnswers } >= 3)  // lookup, getattr/open, read
    }

    @Test func manyRequestsOutstandingOnTwoWorkers() throws {
        var options = TestMount.options()
        options.workerThreads = 2
        let readers = 8
        let mount = try TestMount(options: options, fs: MemoryFileSystem(gateWidth: readers))
        defer { mount.unmount() }
        let done = DispatchGroup()
        let results = Mutex<[Int: [UInt8]]>([:])
        for index in 0..<readers {
            done.enter()
            Thread {
                defer { done.leave() }
                let fd = open(mount.path("gate"), O_RDONLY)
                guard fd >= 0 else { return }
                defer { close(fd) }
                var buffer = [UInt8](repeating: 0, count: 512)
                let count = pread(fd, &buffer, 512, off_t(index * 512))
                results.withLock { $0[index] = Array(buffer.prefix(max(count, 0))) }
            }.start()
        }
        // Each read is answered only once all of them wait: with two worker
        // threads that works only if the workers do not wait for the answers.
        #expect(done.wait(timeout: .now() + 20) == .success)
        let pattern = MemoryFileSystem.pattern(4096)
        for index in 0..<readers {
            #expect(results.withLock { $0[index] } == Array(pattern[index * 512..<(index + 1) * 512]))
        }
        #expect(mount.fs.state.withLock { $0.mostGated } == readers)
    }

    @Test func defaultOperationsAnswerENOSYS() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        #expect(errnoOf { symlink("hello.txt", mount.path("link")) } == ENOSYS)
        // The kernel turns ENOSYS from link into EPERM, as POSIX asks of filesystems without hard links.
        #expect(errnoOf { link(mount.path("hello.txt"), mount.path("hard")) } == EPERM)
        #expect(errnoOf { mkfifo(mount.path("fifo"), 0o644) } == ENOSYS)
    }

    @Test func interruptReachesTheOperation() async throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        // `block` answers a read only when it is interrupted, with EINTR.
        let cat = try NinePProcess.start([mount.path("block")], executable: "/bin/cat")
        defer { cat.stopNow() }
        let arrived = try await runBlocking { mount.fs.blockedReadArrived.wait(timeout: .now() + 10) == .success }
        #expect(arrived, "cat's read never reached the filesystem")
        cat.signal(SIGINT)
        let status = await cat.waitForExit(timeout: .seconds(10))
        #expect(status != nil, "cat did not end after SIGINT")
        #expect(mount.fs.record.withLock { $0.interruptsSeen } == 1)
        #expect(mount.fs.record.withLock { $0.interruptedFlagInHandler })
        #expect(status.map(NinePProcess.describe(status:)) == "killed by signal \(SIGINT)")
        #expect(mount.session.core.misuseCount.load(ordering: .relaxed) == 0)
    }

    @Test func answerAfterUnmountIsDropped() async throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        let cat = try NinePProcess.start([mount.path("block")], executable: "/bin/cat")
        defer { cat.stopNow() }
        #expect(try await runBlocking { mount.fs.blockedReadArrived.wait(timeout: .now() + 10) == .success })
        mount.session.stop()
        #expect(try await runBlocking { mount.waitForRun() != nil })
        #expect(!isMounted(mount.directory))
        // The reader lost its server and gave up (cat exits 1).
        let status = await cat.waitForExit(timeout: .seconds(10))
        #expect(status.map(NinePProcess.describe(status:)) == "exited with status 1")

        let held = try #require(mount.fs.state.withLock { $0.blocked.first })
        #expect(!held.isAnswered)
        held.data([1, 2, 3])  // the network answer that came too late
        #expect(held.isAnswered)
        #expect(mount.session.core.misuseCount.load(ordering: .relaxed) == 0)
    }

    @Test func doubleAndDroppedRepliesAreCaught() throws {
        let mount = try TestMount()
        defer { mount.unmount() }
        var st = stat()
        #expect(errnoOf { stat(mount.path("dropped"), &st) } == EIO)
        #expect(errnoOf { stat(mount.path("twice"), &st) } == ENOENT)
        #expect(mount.fs.answeredTwice.wait(timeout: .now() + 10) == .success)
        #expect(mount.session.core.misuseCount.load(ordering: .relaxed) == 2)
    }
}
