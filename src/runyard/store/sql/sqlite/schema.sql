-- The current SQLite schema: what migrating an empty database gives (checked by tests/store/test_migrations.py).
-- Regenerate it when a migration is added, and review the difference.

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE attempts (
    id               TEXT PRIMARY KEY,
    run_id           TEXT NOT NULL REFERENCES runs (id),
    number           INTEGER NOT NULL,
    worker_id        TEXT NOT NULL,
    status           TEXT NOT NULL,
    lease_expires_at INTEGER NOT NULL,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    error            TEXT,
    exit_code        INTEGER,
    UNIQUE (run_id, number)
);

CREATE TABLE batches (
    id               TEXT PRIMARY KEY,
    run_count        INTEGER NOT NULL,
    status           TEXT NOT NULL,
    idempotency_key  TEXT UNIQUE,
    task_identifiers TEXT NOT NULL DEFAULT '[]',
    errors           TEXT NOT NULL DEFAULT '[]',
    sealed           INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);

CREATE TABLE logs (
    run_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    stream  TEXT NOT NULL,
    ts      INTEGER NOT NULL,
    text    TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE log_sizes (
    run_id    TEXT PRIMARY KEY,
    lines     INTEGER NOT NULL,
    bytes     INTEGER NOT NULL,
    truncated INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

CREATE TABLE packets (
    path         TEXT PRIMARY KEY,
    upload_token TEXT NOT NULL UNIQUE,
    expires_at   INTEGER NOT NULL,
    content_type TEXT,
    data         BLOB,
    created_at   INTEGER NOT NULL
);

CREATE TABLE queues (
    name              TEXT PRIMARY KEY,
    concurrency_limit INTEGER,              -- NULL: unlimited; 0 holds every run queued
    paused            INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE schedules (
    id                TEXT PRIMARY KEY,
    task              TEXT NOT NULL,
    cron              TEXT NOT NULL,
    timezone          TEXT NOT NULL DEFAULT 'UTC',
    active            INTEGER NOT NULL DEFAULT 1,
    declarative       INTEGER NOT NULL DEFAULT 0,   -- from runyard.toml, kept in step with it
    external_id       TEXT,
    deduplication_key TEXT UNIQUE,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    next_key          INTEGER,                      -- the next tick's local wall time (runyard.cron)
    next_run_at       INTEGER,                      -- when the next tick is due, UTC
    last_run_at       INTEGER                       -- the due time of the last tick that made a run
, payload BLOB, tags TEXT);

CREATE TABLE runs (
    id                     TEXT PRIMARY KEY,
    task                   TEXT NOT NULL,
    status                 TEXT NOT NULL,
    queue                  TEXT NOT NULL,
    concurrency_key        TEXT NOT NULL DEFAULT '',
    payload                BLOB NOT NULL,
    payload_type           TEXT NOT NULL,
    context                BLOB,
    output                 BLOB,
    output_type            TEXT NOT NULL DEFAULT 'application/json',
    error                  TEXT,            -- JSON object
    tags                   TEXT NOT NULL DEFAULT '[]',
    metadata               TEXT,            -- JSON object
    idempotency_key        TEXT,
    idempotency_expires_at INTEGER,
    request_key            TEXT,
    priority               INTEGER NOT NULL DEFAULT 0,
    available_at           INTEGER NOT NULL,
    expires_at             INTEGER,
    ttl_s                  REAL,
    max_attempts           INTEGER NOT NULL DEFAULT 1,
    max_duration_s         REAL,
    attempt_count          INTEGER NOT NULL DEFAULT 0,
    triggered_by           TEXT NOT NULL,
    replay_of              TEXT,
    batch_id               TEXT,
    batch_index            INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL,
    started_at             INTEGER,
    ended_at               INTEGER,
    delayed_until          INTEGER,
    exit_code              INTEGER,
    end_reason             TEXT,
    current_attempt_id     TEXT
, schedule_id TEXT, schedule_key INTEGER, replica_index INTEGER NOT NULL DEFAULT 0, retry_of TEXT, retry_as_new_run INTEGER NOT NULL DEFAULT 0);

CREATE INDEX attempts_running ON attempts (lease_expires_at) WHERE status = 'running';

CREATE INDEX attempts_stopping ON attempts (run_id) WHERE status = 'canceled' AND ended_at IS NULL;

CREATE UNIQUE INDEX runs_batch_item ON runs (batch_id, batch_index) WHERE batch_id IS NOT NULL;

CREATE INDEX runs_due ON runs (status, available_at) WHERE status IN ('queued', 'delayed');

CREATE INDEX runs_executing ON runs (queue, concurrency_key) WHERE status = 'executing';

CREATE INDEX runs_expiry ON runs (expires_at) WHERE expires_at IS NOT NULL AND status IN ('queued', 'delayed');

CREATE INDEX runs_idempotency ON runs (task, idempotency_key, id) WHERE idempotency_key IS NOT NULL;

CREATE INDEX runs_pending_by_queue ON runs (queue, priority DESC, available_at, id)
    WHERE status IN ('queued', 'delayed');

CREATE INDEX runs_pending_queue ON runs (queue, concurrency_key, priority DESC, available_at, id)
    WHERE status IN ('queued', 'delayed');

CREATE UNIQUE INDEX runs_schedule_tick ON runs (schedule_id, schedule_key) WHERE schedule_id IS NOT NULL;

CREATE INDEX runs_task_status ON runs (task, status);

CREATE UNIQUE INDEX runs_live_replica ON runs (task, replica_index)
    WHERE triggered_by = 'service' AND status IN ('delayed', 'queued', 'executing');

CREATE UNIQUE INDEX runs_request_key ON runs (request_key) WHERE request_key IS NOT NULL;

CREATE INDEX runs_status ON runs (status, id);

CREATE INDEX schedules_due ON schedules (next_run_at) WHERE active = 1;
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

CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
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
-- Trace spans received over OTLP, kept per project (the resource's project or service name) for evaluations
-- over a time window. A span sent twice (exporters retry) is kept once.
CREATE TABLE spans (
    project TEXT NOT NULL,
    span_id TEXT NOT NULL,
    trace_id TEXT NOT NULL,
    start_us INTEGER NOT NULL,
    data TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (project, span_id)
) WITHOUT ROWID;

CREATE INDEX spans_window ON spans (project, start_us);

-- Each project that has spans: how many, and when the first and the last of them started.
CREATE TABLE span_projects (
    project TEXT PRIMARY KEY,
    spans INTEGER NOT NULL,
    first_us INTEGER NOT NULL,
    last_us INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
