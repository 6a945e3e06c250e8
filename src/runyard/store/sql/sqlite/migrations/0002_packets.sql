-- Large payloads uploaded before a trigger (the Trigger.dev SDK offloads payloads of 128 KiB and more).
CREATE TABLE packets (
    path         TEXT PRIMARY KEY,
    upload_token TEXT NOT NULL UNIQUE,
    expires_at   INTEGER NOT NULL,
    content_type TEXT,
    data         BLOB,
    created_at   INTEGER NOT NULL
);
