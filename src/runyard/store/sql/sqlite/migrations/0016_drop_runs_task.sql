-- No query reads `runs_task` (task, id): a task's live runs come from `runs_task_status`, and run listings read
-- the table in id order. Every trigger still paid for it: about 8 µs of the writer's time a run, side by side.
DROP INDEX IF EXISTS runs_task;
