-- Secrets the server generates for itself (the signing key of public access tokens), shared by every
-- server process on this store.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
