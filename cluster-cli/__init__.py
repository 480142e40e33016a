"""cluster-cli: operate a QuorumDB cluster over gRPC.

Modules: ``main`` (arguments, exit codes), ``commands`` (one function per
subcommand), ``client`` (the gRPC connection and what failures mean),
``render`` (tables and JSON), ``progress`` (the backup progress bar). The
backup format and restore live in ``quorumdb.node.backup``, next to the node
code that reads them back.
"""

__all__: list[str] = []
