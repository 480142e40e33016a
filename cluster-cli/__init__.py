"""cluster-cli: operate a QuorumDB cluster over gRPC."""

__all__: list[str] = []
