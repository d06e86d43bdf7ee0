public enum NinePWireModule {}
