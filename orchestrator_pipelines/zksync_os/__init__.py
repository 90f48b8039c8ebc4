"""ZKsync OS settlement: the domain core of the second stack (never imports Dagster).

The formats are those zksync-os-server sends to the ZKsync L1 contracts of
protocol v29 (era-contracts ``zkos-v0.29.9``): ``model`` (StoredBatchInfo,
CommitBatchInfo, PriorityOpsBatchInfo, DA mode), ``commitment`` (DA input, DA
commitment, batch output hash, proof public inputs, the development proof,
a batch's commit info from its blocks), ``state_commitment`` (the chain state
commitment a batch commits to), ``encoding`` (commit / prove / execute
calldata), ``priority_tree`` (the L1 priority tree and its Merkle paths),
``l1_transaction`` (the L1→L2 priority transaction and its canonical hash),
``l2_logs`` (88-byte L2→L1 log leaves and the batch's logs root),
``l1_client`` (discovery from the Bridgehub, the three L1 senders) and
``prover_api`` (the server's prover job API).
"""
