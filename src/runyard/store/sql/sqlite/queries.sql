-- Every query the SQLite store runs, by name. Parameters are named (:name).
-- Times are integer microseconds since the epoch, UTC. JSON lists are passed as JSON text.

-- name: insert_run
INSERT INTO runs (
    id, task, status, queue, concurrency_key, payload, payload_type, context, tags, metadata,
    idempotency_key, idempotency_expires_at, request_key, priority, available_at, expires_at, ttl_s,
    max_attempts, max_duration_s, triggered_by, replay_of, batch_id, batch_index, created_at, updated_at,
    delayed_until, schedule_id, schedule_key, replica_index, retry_as_new_run
) VALUES (
    :id, :task, :status, :queue, :concurrency_key, :payload, :payload_type, :context, :tags, :metadata,
    :idempotency_key, :idempotency_expires_at, :request_key, :priority, :available_at, :expires_at, :ttl_s,
    :max_attempts, :max_duration_s, :triggered_by, :replay_of, :batch_id, :batch_index, :created_at, :updated_at,
    :delayed_until, :schedule_id, :schedule_key, :replica_index, :retry_as_new_run
);

-- name: run_by_id
SELECT * FROM runs WHERE id = :id;

-- name: run_by_request_key
SELECT * FROM runs WHERE request_key = :request_key;

-- name: run_by_batch_item
SELECT * FROM runs WHERE batch_id = :batch_id AND batch_index = :batch_index;

-- name: batch_has_runs
SELECT EXISTS (SELECT 1 FROM runs WHERE batch_id = :batch_id) AS found;

-- A key is held by the newest run that has not released it: not expired, and not ended without success.
-- name: run_holding_idempotency_key
SELECT * FROM runs INDEXED BY runs_idempotency
WHERE task = :task AND idempotency_key = :idempotency_key AND idempotency_expires_at > :now
  AND status NOT IN ('failed', 'canceled', 'crashed', 'timed_out', 'expired', 'system_failure')
ORDER BY id DESC
LIMIT 1;

-- name: insert_queue_if_missing
INSERT INTO queues (name, concurrency_limit) VALUES (:name, :concurrency_limit) ON CONFLICT (name) DO NOTHING;

-- name: upsert_queue
INSERT INTO queues (name, concurrency_limit) VALUES (:name, :concurrency_limit)
ON CONFLICT (name) DO UPDATE SET concurrency_limit = excluded.concurrency_limit;

-- name: queue_by_name
SELECT * FROM queues WHERE name = :name;

-- name: list_queues
SELECT * FROM queues ORDER BY name;

-- Claims walk the pending runs queue by queue (and, in limited queues, concurrency key by key) through
-- index seeks, so the cost of a claim depends on how many queues and keys have pending runs, never on how
-- many runs wait. The indexes are named (INDEXED BY) so that no statistics can turn a claim into a scan.
-- Queues with pending runs, in name order from :start (inclusive), at most :max of them: a skip-scan.
-- name: pending_queues
WITH RECURSIVE q(name, n) AS (
    SELECT (SELECT MIN(queue) FROM runs INDEXED BY runs_pending_by_queue
            WHERE status IN ('queued', 'delayed') AND queue >= :start), 1
    UNION ALL
    SELECT (SELECT MIN(queue) FROM runs INDEXED BY runs_pending_by_queue
            WHERE status IN ('queued', 'delayed') AND queue > q.name), q.n + 1
    FROM q WHERE q.name IS NOT NULL AND q.n < :max
)
SELECT q.name, qq.concurrency_limit, COALESCE(qq.paused, 0) AS paused
FROM q LEFT JOIN queues qq ON qq.name = q.name
WHERE q.name IS NOT NULL;

-- Concurrency keys with pending runs in one queue, in order from :start (inclusive), at most :max.
-- name: pending_keys
WITH RECURSIVE k(key, n) AS (
    SELECT (SELECT MIN(concurrency_key) FROM runs INDEXED BY runs_pending_queue
            WHERE queue = :queue AND status IN ('queued', 'delayed') AND concurrency_key >= :start), 1
    UNION ALL
    SELECT (SELECT MIN(concurrency_key) FROM runs INDEXED BY runs_pending_queue
            WHERE queue = :queue AND status IN ('queued', 'delayed') AND concurrency_key > k.key), k.n + 1
    FROM k WHERE k.key IS NOT NULL AND k.n < :max
)
SELECT key AS name FROM k WHERE key IS NOT NULL;

-- Due runs of one queue, in claim order (priority, due time, id).
-- name: due_in_queue
SELECT id, priority, available_at
FROM runs INDEXED BY runs_pending_by_queue
WHERE queue = :queue AND status IN ('queued', 'delayed')
  AND available_at <= :now
  AND (expires_at IS NULL OR expires_at > :now)
  AND (:tasks IS NULL OR task IN (SELECT value FROM json_each(:tasks)))
ORDER BY priority DESC, available_at, id
LIMIT :limit;

-- Due runs of one (queue, concurrency key) partition, in claim order.
-- name: due_in_partition
SELECT id, priority, available_at
FROM runs INDEXED BY runs_pending_queue
WHERE queue = :queue AND concurrency_key = :key AND status IN ('queued', 'delayed')
  AND available_at <= :now
  AND (expires_at IS NULL OR expires_at > :now)
  AND (:tasks IS NULL OR task IN (SELECT value FROM json_each(:tasks)))
ORDER BY priority DESC, available_at, id
LIMIT :limit;

-- The slots taken in a queue, one row per run: executing runs, and canceled runs whose code has not stopped
-- yet (attempt canceled, ended_at still NULL), which keep their slot.
-- name: busy_keys
SELECT concurrency_key FROM runs INDEXED BY runs_executing WHERE queue = :queue AND status = 'executing'
UNION ALL
SELECT r.concurrency_key
FROM attempts a CROSS JOIN runs r ON r.id = a.run_id  -- stopping attempts first: few
WHERE a.status = 'canceled' AND a.ended_at IS NULL AND r.queue = :queue;

-- Start the claimed runs in one statement: :attempts maps each run id to its new attempt id (a JSON object).
-- name: start_runs
UPDATE runs
SET status = 'executing', attempt_count = attempt_count + 1, started_at = COALESCE(started_at, :now),
    updated_at = :now, current_attempt_id = json_extract(:attempts, '$."' || id || '"')
WHERE id IN (SELECT key FROM json_each(:attempts)) AND status IN ('queued', 'delayed')
RETURNING *;

-- The attempts of the runs `start_runs` just started, leased to the worker.
-- name: insert_attempts
INSERT INTO attempts (id, run_id, number, worker_id, status, lease_expires_at, started_at)
SELECT r.current_attempt_id, r.id, r.attempt_count, :worker_id, 'running', :lease_expires_at, :now
FROM json_each(:attempts) j CROSS JOIN runs r ON r.id = j.key
WHERE r.current_attempt_id = j.value AND r.status = 'executing'
RETURNING *;

-- name: owned_attempts
SELECT id FROM attempts
WHERE id IN (SELECT value FROM json_each(:ids)) AND worker_id = :worker_id AND status = 'running';

-- name: extend_leases
UPDATE attempts SET lease_expires_at = :lease_expires_at
WHERE id IN (SELECT value FROM json_each(:ids)) AND worker_id = :worker_id
  AND (status = 'running' OR (status = 'canceled' AND ended_at IS NULL));

-- name: end_attempt
UPDATE attempts
SET status = :status, ended_at = :now, error = :error, exit_code = :exit_code
WHERE id = :id AND status = 'running'
RETURNING run_id, number;

-- Completions, many at once (runyard.store.sqlite_complete): `done` is a list of rows, the VALUES (?, ...) below
-- repeated once for each. First the attempts that were still running end (each once); then their runs, if
-- each is still executing that attempt.
-- name: complete_attempts
WITH done(attempt_id, exit_code, now) AS (VALUES (?, ?, ?))
UPDATE attempts SET status = 'completed', ended_at = done.now, error = NULL, exit_code = done.exit_code
FROM done
WHERE attempts.id = done.attempt_id AND attempts.status = 'running'
RETURNING id, run_id;

-- name: complete_runs
WITH done(run_id, attempt_id, output, output_type, exit_code, now) AS (VALUES (?, ?, ?, ?, ?, ?))
UPDATE runs
SET status = 'completed', output = done.output, output_type = done.output_type, exit_code = done.exit_code,
    end_reason = 'success', error = NULL, ended_at = done.now, updated_at = done.now
FROM done
WHERE runs.id = done.run_id AND runs.current_attempt_id = done.attempt_id AND runs.status = 'executing'
RETURNING *;

-- name: end_run
UPDATE runs
SET status = :status, error = :error, exit_code = :exit_code, end_reason = :end_reason,
    ended_at = :now, updated_at = :now
WHERE id = :id AND current_attempt_id = :attempt_id AND status = 'executing'
RETURNING *;

-- name: requeue_run
UPDATE runs
SET status = 'queued', error = :error, available_at = :available_at, updated_at = :now
WHERE id = :id AND current_attempt_id = :attempt_id AND status = 'executing' AND retry_as_new_run = 0
RETURNING *;

-- The retry of a run that retries as a new run: a copy of the ended run `retry_of`, queued for `available_at`.
-- It counts on from the ended run's attempts (its first attempt is the chain's next number, so the task's
-- attempt limit holds over the chain). Keys that name one run (idempotency, request, batch item, schedule
-- tick) stay with the run that had them, and so does the ttl (a retry is not a trigger waiting to start).
-- name: insert_retry_run
INSERT INTO runs (
    id, task, status, queue, concurrency_key, payload, payload_type, context, tags, metadata, priority,
    available_at, expires_at, ttl_s, max_attempts, max_duration_s, attempt_count, triggered_by, replay_of,
    created_at, updated_at, replica_index, retry_of, retry_as_new_run
)
SELECT :new_id, task, 'queued', queue, concurrency_key, payload, payload_type, context, tags, metadata, priority,
    :available_at, NULL, ttl_s, max_attempts, max_duration_s, attempt_count, triggered_by, replay_of,
    :now, :now, replica_index, id, 1
FROM runs WHERE id = :retry_of
RETURNING *;

-- name: cancel_run
UPDATE runs
SET status = 'canceled', end_reason = 'stopped', exit_code = -1, ended_at = :now, updated_at = :now
WHERE id = :id AND status IN ('delayed', 'queued', 'executing');

-- ended_at stays NULL until the worker reports the code stopped (release_attempt) or the lease runs out.
-- name: cancel_attempts
UPDATE attempts SET status = 'canceled' WHERE run_id = :run_id AND status = 'running';

-- name: release_attempt
UPDATE attempts SET ended_at = :now WHERE id = :id AND ended_at IS NULL;

-- name: release_stale_attempts
UPDATE attempts SET ended_at = :now WHERE status = 'canceled' AND ended_at IS NULL AND lease_expires_at < :now;

-- name: reschedule_run
UPDATE runs
SET available_at = :available_at, delayed_until = :available_at, status = 'delayed', updated_at = :now,
    expires_at = CASE WHEN ttl_s IS NULL THEN NULL ELSE :available_at + CAST(ttl_s * 1000000 AS INTEGER) END
WHERE id = :id AND status = 'delayed';

-- name: set_run_tags
UPDATE runs SET tags = :tags, updated_at = :now WHERE id = :id;

-- name: set_run_metadata
UPDATE runs SET metadata = :metadata, updated_at = :now WHERE id = :id;

-- name: promote_delayed
UPDATE runs INDEXED BY runs_due SET status = 'queued', updated_at = :now
WHERE status IN ('queued', 'delayed') AND status = 'delayed' AND available_at <= :now;

-- name: expire_runs
UPDATE runs INDEXED BY runs_expiry
SET status = 'expired', end_reason = 'missed', exit_code = -1, ended_at = :now, updated_at = :now,
    error = json_object('message', 'the run expired: its ttl passed before it started', 'name', 'TTL_EXPIRED')
WHERE expires_at IS NOT NULL AND status IN ('queued', 'delayed') AND expires_at <= :now
RETURNING id;

-- name: lost_leases
SELECT a.id AS attempt_id, a.run_id, a.number, r.attempt_count, r.max_attempts
FROM attempts a
CROSS JOIN runs r ON r.id = a.run_id  -- attempts first: the expired leases are few, the runs many
WHERE a.status = 'running' AND a.lease_expires_at < :now;

-- name: next_due_at
SELECT MIN(t) AS due FROM (
    SELECT MIN(available_at) AS t FROM runs INDEXED BY runs_due
    WHERE status IN ('queued', 'delayed') AND status = 'delayed'
    UNION ALL
    SELECT MIN(expires_at) FROM runs INDEXED BY runs_expiry
    WHERE expires_at IS NOT NULL AND status IN ('queued', 'delayed')
    UNION ALL
    SELECT MIN(lease_expires_at) FROM attempts WHERE status = 'running'
    UNION ALL
    SELECT MIN(lease_expires_at) FROM attempts WHERE status = 'canceled' AND ended_at IS NULL
    UNION ALL
    SELECT MIN(available_at) FROM runs INDEXED BY runs_due  -- retries waiting
    WHERE status IN ('queued', 'delayed') AND status = 'queued' AND available_at > :now
    UNION ALL
    SELECT MIN(next_run_at) FROM schedules WHERE active = 1
);

-- name: count_by_status
SELECT status, COUNT(*) AS n FROM runs GROUP BY status;

-- The filters of run listings and counts (a fragment: other queries include it as {{run_filters}}).
-- name: run_filters
(:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
  AND (:tasks IS NULL OR task IN (SELECT value FROM json_each(:tasks)))
  AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
  AND (:triggered_by IS NULL OR triggered_by IN (SELECT value FROM json_each(:triggered_by)))
  AND (:tags IS NULL OR EXISTS (
        SELECT 1 FROM json_each(runs.tags) t WHERE t.value IN (SELECT value FROM json_each(:tags))))
  AND (:batch_id IS NULL OR batch_id = :batch_id)
  AND (:concurrency_key IS NULL OR concurrency_key = :concurrency_key)
  AND (:created_from IS NULL OR created_at >= :created_from)
  AND (:created_to IS NULL OR created_at <= :created_to)
  AND (:exit_code_min IS NULL OR exit_code >= :exit_code_min)
  AND (:exit_code_max IS NULL OR exit_code <= :exit_code_max)
  AND (:retries_only = 0 OR attempt_count > 1 OR retry_of IS NOT NULL)
  AND (:failed IS NULL OR (status IN ('failed', 'timed_out', 'crashed', 'system_failure')) = :failed)
  AND (:search IS NULL OR instr(lower(task), lower(:search)) > 0 OR id = upper(:search))

-- Pages newest first. `after` (older than) and `before` (newer than) are run ids.
-- name: list_runs_desc
SELECT * FROM runs
WHERE (:after IS NULL OR id < :after)
  AND {{run_filters}}
ORDER BY id DESC
LIMIT :limit;

-- name: list_runs_asc
SELECT * FROM runs
WHERE (:before IS NULL OR id > :before)
  AND {{run_filters}}
ORDER BY id ASC
LIMIT :limit;

-- Pages by offset in the order a user picked (one of records.SORT_FIELDS), ties newest first.
-- name: list_runs_sorted
SELECT * FROM runs
WHERE {{run_filters}}
ORDER BY
    CASE WHEN :descending = 0 THEN CASE :sort WHEN 'task' THEN task WHEN 'status' THEN status
        WHEN 'started_at' THEN started_at WHEN 'exit_code' THEN exit_code
        WHEN 'duration' THEN ended_at - started_at ELSE created_at END END ASC,
    CASE WHEN :descending = 1 THEN CASE :sort WHEN 'task' THEN task WHEN 'status' THEN status
        WHEN 'started_at' THEN started_at WHEN 'exit_code' THEN exit_code
        WHEN 'duration' THEN ended_at - started_at ELSE created_at END END DESC,
    id DESC
LIMIT :limit OFFSET :offset;

-- name: count_runs
SELECT COUNT(*) AS n FROM runs
WHERE {{run_filters}};

-- name: attempts_of_run
SELECT * FROM attempts WHERE run_id = :run_id ORDER BY number;

-- name: last_log_seq
SELECT COALESCE(MAX(seq), 0) AS seq FROM logs WHERE run_id = :run_id;

-- name: insert_log
INSERT INTO logs (run_id, seq, attempt, stream, ts, text) VALUES (:run_id, :seq, :attempt, :stream, :ts, :text);

-- name: log_size
SELECT lines, bytes, truncated FROM log_sizes WHERE run_id = :run_id;

-- name: set_log_size
INSERT INTO log_sizes (run_id, lines, bytes, truncated) VALUES (:run_id, :lines, :bytes, :truncated)
ON CONFLICT (run_id) DO UPDATE SET lines = excluded.lines, bytes = excluded.bytes, truncated = excluded.truncated;

-- name: read_logs
SELECT * FROM logs WHERE run_id = :run_id AND seq > :after_seq ORDER BY seq LIMIT :limit;

-- name: insert_batch
INSERT INTO batches (id, run_count, status, idempotency_key, task_identifiers, errors, sealed, created_at, updated_at)
VALUES (:id, :run_count, :status, :idempotency_key, :task_identifiers, '[]', 0, :created_at, :updated_at);

-- name: batch_by_id
SELECT * FROM batches WHERE id = :id;

-- name: batch_by_idempotency_key
SELECT * FROM batches WHERE idempotency_key = :idempotency_key;

-- name: batch_run_ids
SELECT id FROM runs WHERE batch_id = :batch_id ORDER BY batch_index;

-- The same ids as one comma-separated text: one step for the writer thread instead of one a row (each row step
-- gives up the interpreter lock, which a busy event loop is slow to give back).
-- name: batch_run_ids_text
SELECT group_concat(id) AS ids FROM (SELECT id FROM runs WHERE batch_id = :batch_id ORDER BY batch_index);

-- name: update_batch
UPDATE batches SET status = :status, errors = :errors, sealed = :sealed, updated_at = :now WHERE id = :id;

-- name: insert_api_key
INSERT INTO api_keys (id, name, prefix, key_hash, created_at) VALUES (:id, :name, :prefix, :key_hash, :created_at)
ON CONFLICT (key_hash) DO NOTHING;

-- name: api_key_by_hash
SELECT * FROM api_keys WHERE key_hash = :key_hash AND revoked_at IS NULL;

-- name: list_api_keys
SELECT * FROM api_keys ORDER BY created_at;

-- name: revoke_api_key
UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL;

-- name: insert_server_secret
INSERT INTO server_secrets (name, value, created_at) VALUES (:name, :value, :now) ON CONFLICT (name) DO NOTHING;

-- name: server_secret
SELECT value FROM server_secrets WHERE name = :name;

-- name: upsert_packet
INSERT INTO packets (path, upload_token, expires_at, created_at) VALUES (:path, :upload_token, :expires_at, :now)
ON CONFLICT (path) DO UPDATE SET upload_token = excluded.upload_token, expires_at = excluded.expires_at;

-- name: fill_packet
-- A token is used once: it is spent (renamed, still unique) as the data lands; a packet presigned again keeps
-- its data until the new upload replaces it.
UPDATE packets SET data = :data, content_type = :content_type, upload_token = 'spent:' || upload_token
WHERE upload_token = :upload_token AND expires_at > :now;

-- name: packet_by_path
SELECT * FROM packets WHERE path = :path AND data IS NOT NULL;

-- ---- schedules ----

-- name: insert_schedule
INSERT INTO schedules (
    id, task, cron, timezone, active, declarative, external_id, deduplication_key, created_at, updated_at,
    next_key, next_run_at, payload, tags
) VALUES (
    :id, :task, :cron, :timezone, :active, :declarative, :external_id, :deduplication_key, :now, :now,
    :next_key, :next_run_at, :payload, :tags
);

-- A changed expression or zone (or a re-activation) moves the cursor; otherwise it stays, so ticks
-- missed while no server was up are still found after a restart.
-- name: update_schedule
UPDATE schedules
SET task = :task, cron = :cron, timezone = :timezone, external_id = :external_id, active = :active,
    payload = :payload, tags = :tags,
    next_key = CASE WHEN cron != :cron OR timezone != :timezone OR (active = 0 AND :active = 1)
                    THEN :next_key ELSE next_key END,
    next_run_at = CASE WHEN cron != :cron OR timezone != :timezone OR (active = 0 AND :active = 1)
                       THEN :next_run_at ELSE next_run_at END,
    updated_at = :now
WHERE id = :id;

-- name: schedule_by_id
SELECT * FROM schedules WHERE id = :id;

-- name: schedule_by_deduplication_key
SELECT * FROM schedules WHERE deduplication_key = :deduplication_key;

-- name: list_schedules
SELECT * FROM schedules
WHERE (:task IS NULL OR task = :task)
ORDER BY created_at, id
LIMIT :limit OFFSET :offset;

-- name: count_schedules
SELECT COUNT(*) AS n FROM schedules WHERE (:task IS NULL OR task = :task);

-- name: delete_schedule
DELETE FROM schedules WHERE id = :id;

-- Declarative schedules whose task no longer has a `cron` in the configuration.
-- name: delete_stale_declarative
DELETE FROM schedules
WHERE declarative = 1 AND id NOT IN (SELECT value FROM json_each(:keep));

-- name: due_schedules
SELECT * FROM schedules
WHERE active = 1 AND next_run_at <= :now
ORDER BY next_run_at
LIMIT :limit;

-- Move the cursor past the ticks being fired, only if no other process has moved it: the compare-and-set
-- that lets one process fire each tick.
-- name: advance_schedule
UPDATE schedules
SET next_key = :next_key, next_run_at = :next_run_at, last_run_at = COALESCE(:last_run_at, last_run_at),
    updated_at = :now
WHERE id = :id AND active = 1 AND next_key = :expected_key;

-- name: run_by_schedule_tick
SELECT * FROM runs WHERE schedule_id = :schedule_id AND schedule_key = :schedule_key;

-- How busy a task is: its executing runs and its runs waiting to start.
-- name: task_activity
SELECT
    COALESCE(SUM(status = 'executing'), 0) AS executing,
    COALESCE(SUM(status IN ('queued', 'delayed')), 0) AS pending
FROM runs
WHERE task = :task AND status IN ('executing', 'queued', 'delayed');

-- on_overlap = "kill": stop the task's executing runs.
-- name: stop_executing_runs_of_task
UPDATE runs
SET status = 'canceled', end_reason = 'stopped', exit_code = -1, ended_at = :now, updated_at = :now
WHERE task = :task AND status = 'executing'
RETURNING id;

-- A run that ends before it starts: skipped, queue_full, missed, dst_skipped.
-- name: end_unstarted_run
UPDATE runs
SET status = :status, end_reason = :end_reason, exit_code = -1, error = :error, ended_at = :now, updated_at = :now
WHERE id = :id AND status IN ('queued', 'delayed');

-- ---- service replicas ----

-- name: live_replica
SELECT * FROM runs
WHERE task = :task AND replica_index = :replica_index AND triggered_by = 'service'
  AND status IN ('delayed', 'queued', 'executing');

-- name: stop_live_replicas
UPDATE runs
SET status = 'canceled', end_reason = :end_reason, exit_code = -1, ended_at = :now, updated_at = :now
WHERE triggered_by = 'service' AND status IN ('delayed', 'queued', 'executing') AND (:task IS NULL OR task = :task)
RETURNING id;
