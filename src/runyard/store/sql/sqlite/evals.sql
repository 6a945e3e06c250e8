-- Evaluations: datasets (each change a new version) and the item results and counts of evaluation runs.

-- name: insert_dataset
INSERT INTO datasets (id, name, version, created_at, updated_at) VALUES (:id, :name, 1, :now, :now);

-- name: dataset_by_id
SELECT d.*, (SELECT count(*) FROM dataset_examples e WHERE e.dataset_id = d.id AND e.version = d.version)
    AS example_count
FROM datasets d WHERE d.id = :id;

-- name: dataset_by_name
SELECT id FROM datasets WHERE name = :name;

-- name: bump_dataset_version
UPDATE datasets SET version = version + 1, updated_at = :now WHERE id = :id RETURNING version;

-- name: insert_dataset_example
INSERT INTO dataset_examples (dataset_id, version, position, example_id, data)
VALUES (:dataset_id, :version, :position, :example_id, :data);

-- The examples of the previous version carry over into the new one (positions unchanged).
-- name: copy_dataset_version
INSERT INTO dataset_examples (dataset_id, version, position, example_id, data)
SELECT dataset_id, :version, position, example_id, data FROM dataset_examples
WHERE dataset_id = :dataset_id AND version = :version - 1;

-- name: dataset_examples_page
SELECT position, example_id, data FROM dataset_examples
WHERE dataset_id = :dataset_id AND version = :version AND position > :after
ORDER BY position LIMIT :limit;

-- name: ensure_eval_counts
INSERT INTO eval_counts (run_id, total) VALUES (:run_id, :total) ON CONFLICT (run_id) DO NOTHING;

-- A retried attempt scores items again; the first result of an item stands.
-- name: insert_eval_result
INSERT INTO eval_results (run_id, item_index, item_id, status, passed, result)
VALUES (:run_id, :item_index, :item_id, :status, :passed, :result)
ON CONFLICT (run_id, item_index) DO NOTHING;

-- name: add_eval_counts
UPDATE eval_counts SET success = success + :success, error = error + :error, skipped = skipped + :skipped,
    passed = passed + :passed, score_sum = score_sum + :score_sum, scored = scored + :scored
WHERE run_id = :run_id;

-- name: eval_counts_by_run
SELECT * FROM eval_counts WHERE run_id = :run_id;

-- name: eval_results_page
SELECT result FROM eval_results WHERE run_id = :run_id AND item_index > :after ORDER BY item_index LIMIT :limit;

-- name: insert_suite
INSERT INTO eval_suites (id, scope, name, description, kind, metadata, inputs, evaluators, attributes, created_at,
                         updated_at)
VALUES (:id, :scope, :name, :description, :kind, :metadata, :inputs, :evaluators, :attributes, :now, :now);

-- name: update_suite
UPDATE eval_suites SET name = :name, description = :description, kind = :kind, metadata = :metadata,
    inputs = :inputs, evaluators = :evaluators, attributes = :attributes, updated_at = :now
WHERE id = :id;

-- name: suite_by_id
SELECT * FROM eval_suites WHERE id = :id;

-- name: suites_page
SELECT * FROM eval_suites WHERE scope = :scope ORDER BY created_at, id LIMIT :limit OFFSET :skip;

-- name: suites_count
SELECT count(*) AS n FROM eval_suites WHERE scope = :scope;

-- name: delete_suite
DELETE FROM eval_suites WHERE id = :id;

-- name: insert_named_evaluator
INSERT INTO named_evaluators (id, name, description, kind, version, versions, created_at, updated_at)
VALUES (:id, :name, :description, :kind, :version, :versions, :now, :now);

-- The row changes only if nobody wrote a version since `expected` was read.
-- name: update_named_evaluator
UPDATE named_evaluators SET name = :name, description = :description, kind = :kind, version = :version,
    versions = :versions, updated_at = :now
WHERE id = :id AND version = :expected;

-- name: named_evaluator_by_id
SELECT * FROM named_evaluators WHERE id = :id;

-- name: named_evaluator_by_name
SELECT id FROM named_evaluators WHERE name = :name;

-- name: named_evaluators_page
SELECT * FROM named_evaluators ORDER BY created_at, id LIMIT :limit OFFSET :skip;

-- name: named_evaluators_count
SELECT count(*) AS n FROM named_evaluators;

-- name: delete_named_evaluator
DELETE FROM named_evaluators WHERE id = :id;

-- name: insert_span
INSERT INTO spans (project, span_id, trace_id, start_us, data, received_at)
VALUES (:project, :span_id, :trace_id, :start_us, :data, :now)
ON CONFLICT (project, span_id) DO NOTHING;

-- name: spans_in_window
SELECT data FROM spans
WHERE project = :project AND start_us >= :start AND start_us < :end
ORDER BY start_us, span_id LIMIT :limit;

-- name: add_span_project
INSERT INTO span_projects (project, spans, first_us, last_us, created_at)
VALUES (:project, :spans, :first_us, :last_us, :now)
ON CONFLICT (project) DO UPDATE SET spans = spans + excluded.spans, first_us = min(first_us, excluded.first_us),
    last_us = max(last_us, excluded.last_us);

-- name: span_projects
SELECT * FROM span_projects ORDER BY project;

-- name: datasets_page
SELECT d.*, (SELECT count(*) FROM dataset_examples e WHERE e.dataset_id = d.id AND e.version = d.version)
    AS example_count
FROM datasets d WHERE (:name IS NULL OR instr(lower(d.name), lower(:name)) > 0)
ORDER BY d.id LIMIT :limit OFFSET :skip;

-- name: datasets_count
SELECT count(*) AS n FROM datasets WHERE (:name IS NULL OR instr(lower(name), lower(:name)) > 0);

-- name: replace_dataset_example
UPDATE dataset_examples SET data = :data
WHERE dataset_id = :dataset_id AND version = :version AND example_id = :example_id;

-- name: delete_dataset_examples
DELETE FROM dataset_examples WHERE dataset_id = :id;

-- name: delete_dataset
DELETE FROM datasets WHERE id = :id;
