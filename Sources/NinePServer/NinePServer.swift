/// The NinePServer module. See README.md for its place in the package.
public enum NinePServerModule {}
