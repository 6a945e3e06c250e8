-- A task may retry as new runs (RunWisp's model) instead of as further attempts of one run: a failed attempt
-- then ends its run, and a copy of it is queued whose `retry_of` names it (a chain: each retry names the run
-- before it). `retry_as_new_run` is the task's choice, kept on the run so that every path that retries
-- (a worker's report, a lost lease) decides the same way.
ALTER TABLE runs ADD COLUMN retry_of TEXT;
ALTER TABLE runs ADD COLUMN retry_as_new_run INTEGER NOT NULL DEFAULT 0;
