-- Cron schedules, and the tick each scheduled run was made for: (schedule_id, schedule_key) is unique, so
-- a tick makes one run even when several servers fire schedules against one store.
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
);

CREATE INDEX schedules_due ON schedules (next_run_at) WHERE active = 1;

ALTER TABLE runs ADD COLUMN schedule_id TEXT;

ALTER TABLE runs ADD COLUMN schedule_key INTEGER;

CREATE UNIQUE INDEX runs_schedule_tick ON runs (schedule_id, schedule_key) WHERE schedule_id IS NOT NULL;

CREATE INDEX runs_task_status ON runs (task, status);
