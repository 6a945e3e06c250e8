-- A canceled attempt keeps its queue slot until its worker reports that the code has stopped: its ended_at
-- stays NULL until then (or until its lease runs out, when the worker is gone).
CREATE INDEX attempts_stopping ON attempts (run_id) WHERE status = 'canceled' AND ended_at IS NULL;
