"""The Dagster layer of the ZKsync OS stack: partitions, resources, assets, jobs and sensors.

A batch flows node blocks → ``zkos_batch`` (sealed by the batching sensor with
the server's rules) → ``zkos_prover_input`` (FRI job offered on the prover API)
→ ``zkos_fri_proof`` (recorded once a prover submitted) → ``zkos_commit`` →
``zkos_snark_proof`` → ``zkos_prove`` (a range) → ``zkos_execute``. Every L1
step is requested by a sensor only when L1's totals say it is next, and the
asset asks L1 again before sending. The domain (formats, hashes, seal rules,
clients) lives in :mod:`orchestrator_pipelines.zksync_os`.
"""
