/// The NinePTesting module: test tools shared by every module's tests.
///
/// - `SocketPair`: two connected unix stream sockets.
/// - `InMemoryServerConnection`: a `FileServer` served on one end of a
///   socket pair, with a `RawNinePClient` on the other.
/// - `RawNinePClient`: sends exactly the `Fcall`s (or raw bytes) a test
///   gives it and returns replies by tag, with deadlines; pipelines for load.
public enum NinePTestingModule {}
