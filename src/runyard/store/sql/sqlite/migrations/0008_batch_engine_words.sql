-- Batches keep the engine's words: lowercase statuses and item errors as {index, task, error}.
UPDATE batches SET status = lower(status);
UPDATE batches SET errors = (
    SELECT json_group_array(json_object(
        'index', json_extract(e.value, '$.index'),
        'task', coalesce(json_extract(e.value, '$.task'), json_extract(e.value, '$.taskIdentifier'), ''),
        'error', json_extract(e.value, '$.error')))
    FROM json_each(batches.errors) e
) WHERE errors != '[]';
