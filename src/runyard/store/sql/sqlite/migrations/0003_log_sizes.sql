-- Each run's log size (all attempts), so the per-run log cap holds across attempts and worker processes.
CREATE TABLE log_sizes (
    run_id    TEXT PRIMARY KEY,
    lines     INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

INSERT INTO log_sizes (run_id, lines, bytes, truncated)
SELECT run_id, MAX(seq), SUM(LENGTH(CAST(text AS BLOB))), 0 FROM logs GROUP BY run_id;
