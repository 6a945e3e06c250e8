-- Claims seek queue by queue (runs_pending_by_queue) and key by key (runs_pending_queue); the global
-- pending index is no longer read. Due times of waiting runs (delayed, and queued retries with a backoff)
-- share one index, read by promotion and by the maintainer's next wake-up.
DROP INDEX runs_pending;
CREATE INDEX runs_pending_by_queue ON runs (queue, priority DESC, available_at, id)
    WHERE status IN ('queued', 'delayed');
DROP INDEX runs_delayed;
CREATE INDEX runs_due ON runs (status, available_at) WHERE status IN ('queued', 'delayed');
-- The run holding an idempotency key is the newest one with it: the index ends with the id.
DROP INDEX runs_idempotency;
CREATE INDEX runs_idempotency ON runs (task, idempotency_key, id) WHERE idempotency_key IS NOT NULL;
