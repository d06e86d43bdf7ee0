/// The NinePTesting module: test tools shared by every module's tests.
///
/// - `SocketPair`: two connected unix stream sockets.
/// - `InMemoryServerConnection`: a `FileServer` served on one end of a
///   socket pair, with a `RawNinePClient` on the other.
/// - `RawNinePClient`: sends exactly the `Fcall`s (or raw bytes) a test
///   gives it and returns replies by tag, with deadlines; pipelines for load.
/// - `FileServerConformance`: named checks that any 9P2000 server must pass
///   over the wire (walk, open, create, I/O, directories, wstat, remove,
///   confinement), with `Capabilities` where servers legitimately differ.
/// - `BadInputBarrage` and `MalformedFrame`: malformed, random and raw input
///   on a live connection, counted, while another connection is probed.
/// - `NinePProcess`: the built `ninep` binary run as a child process
///   (`serve` reads the "serving … on ADDR" line); `LocalServer`: a
///   FileServer in this process on a temporary unix socket.
/// - `PosixSuite`, `FsxOracle`: POSIX checks and an fsx oracle for mounts.
public enum NinePTestingModule {}
