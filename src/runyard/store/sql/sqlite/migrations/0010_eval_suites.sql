-- Evaluation suites: what to evaluate again and again (inputs, evaluators) within a scope (an application);
-- each evaluation run of a suite carries the tag "suite:<id>".
CREATE TABLE eval_suites (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    kind TEXT NOT NULL,
    metadata TEXT NOT NULL,
    inputs TEXT NOT NULL,
    evaluators TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE INDEX eval_suites_scope ON eval_suites (scope, created_at, id);
