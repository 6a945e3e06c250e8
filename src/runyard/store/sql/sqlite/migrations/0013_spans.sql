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
