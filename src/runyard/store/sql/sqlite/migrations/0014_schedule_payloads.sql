-- A schedule may carry the payload (JSON text) and tags of the runs its ticks make; without a payload a
-- tick's run gets the tick's own description (what Trigger.dev's scheduled tasks receive).
ALTER TABLE schedules ADD COLUMN payload BLOB;
ALTER TABLE schedules ADD COLUMN tags TEXT;
