-- Service replicas: which replica a run is, and at most one live run per (task, replica), so several
-- servers on one store never start a replica twice.
ALTER TABLE runs ADD COLUMN replica_index INTEGER NOT NULL DEFAULT 0;

CREATE UNIQUE INDEX runs_live_replica ON runs (task, replica_index)
    WHERE triggered_by = 'service' AND status IN ('delayed', 'queued', 'executing');
