"""The ZKsync OS prover API: pull-based FRI and SNARK prover jobs over HTTP.

It speaks the routes and JSON of zksync-os-server's prover API
(``node/bin/src/prover_api/``), so a real prover binary attaches unchanged:

- ``GET  /prover-jobs/status``                     assigned FRI jobs
- ``POST /prover-jobs/FRI/pick``                   next FRI job, 204 when none
- ``POST /prover-jobs/FRI/submit?id=PROVER``       a FRI proof
- ``GET  /prover-jobs/FRI/{n}/peek``               the input of an assigned job
- ``POST /prover-jobs/SNARK/pick``                 up to ``max_fris_per_snark`` consecutive FRI proofs
- ``POST /prover-jobs/SNARK/submit``               a SNARK proof over a range
- ``GET  /prover-jobs/SNARK/{from}/{to}/peek``     the FRI proofs of a range

Unlike the server, where jobs come from an in-memory channel, jobs here are
rows in a store (PostgreSQL in production, SQLite for development) that the
Dagster assets fill through ``/orchestrator/...`` routes, so the API process,
the daemon and the provers can each restart without losing a proof.
"""
