"""Domain core of the ZKsync OS stack: the L1 batch formats, their hashes and the L1 client.

The formats are those zksync-os-server sends to the ZKsync L1 contracts of
protocol v29 (era-contracts ``zkos-v0.29.9``): ``model`` (StoredBatchInfo,
CommitBatchInfo, PriorityOpsBatchInfo), ``commitment`` (DA input, DA
commitment, batch output hash, state commitment, proof public inputs, the
development proof), ``encoding`` (commit / prove / execute calldata),
``priority_tree`` (the L1 priority tree and its Merkle paths), ``l1_transaction``
(the L1→L2 priority transaction and its canonical hash), ``l2_logs`` (88-byte
L2→L1 log leaves and the batch's logs root) and ``l1_client`` (discovery from
the Bridgehub, the three L1 senders). Nothing here imports Dagster.
"""
