-- Per-item results of evaluation runs (task kind "evaluation").
CREATE TABLE eval_results (
    run_id      TEXT NOT NULL,
    idx         INTEGER NOT NULL,
    item_id     TEXT,
    status      TEXT NOT NULL,
    score       REAL,
    label       TEXT,
    explanation TEXT,
    error       TEXT,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, idx)
);
