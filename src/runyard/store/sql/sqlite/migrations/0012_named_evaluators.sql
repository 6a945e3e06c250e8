-- Named evaluators: evaluators kept by name and reused across evaluation runs, each change a new version.
-- `versions` is the JSON list of every version ({version, evaluator, attributes, message, created_at});
-- a new version is written only over the version it was made from (optimistic, `version` below).
CREATE TABLE named_evaluators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    versions TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX named_evaluators_order ON named_evaluators (created_at, id);
