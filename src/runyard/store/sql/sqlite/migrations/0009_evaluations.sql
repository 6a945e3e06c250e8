-- Evaluations: datasets whose every change is a new version, and the item results and counts of
-- evaluation runs.
CREATE TABLE datasets (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE dataset_examples (
    dataset_id TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    example_id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (dataset_id, version, position)
) WITHOUT ROWID;

CREATE TABLE eval_results (
    run_id TEXT NOT NULL,
    item_index INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    status TEXT NOT NULL,
    passed INTEGER NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (run_id, item_index)
) WITHOUT ROWID;

CREATE TABLE eval_counts (
    run_id TEXT PRIMARY KEY,
    total INTEGER NOT NULL,
    success INTEGER NOT NULL DEFAULT 0,
    error INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0,
    score_sum REAL NOT NULL DEFAULT 0,
    scored INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
