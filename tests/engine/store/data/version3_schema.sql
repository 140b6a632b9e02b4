-- The local store's schema (SQLite, WAL). One file under the data folder.
-- Versioned by PRAGMA user_version; addin/engine/store/database.py upgrades
-- older files in place (columns are only ever added).

-- The result cache: one row per (realm, product, E.164) with a yes/no/ban answer.
-- The product is the vendor's check ("facebook"), so another checker of the same
-- vendor never mixes its answers with these. Errors are never cached, so a later
-- run asks again. (Version 3 added the product to the key: database.py rebuilds
-- an older table with product 'facebook'.)
CREATE TABLE IF NOT EXISTS results (
    realm TEXT NOT NULL,
    product TEXT NOT NULL DEFAULT 'facebook',
    e164 TEXT NOT NULL,
    answer TEXT NOT NULL,
    checked_at REAL NOT NULL,
    task_id TEXT,
    PRIMARY KEY (realm, product, e164)
) WITHOUT ROWID;

-- One row per check: a CLI run, a ribbon click, a batch of =FBCHECK cells.
-- A CLI rerun of the same input finds its unfinished job by fingerprint.
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    realm TEXT NOT NULL,
    kind TEXT NOT NULL,
    label TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    refresh INTEGER NOT NULL DEFAULT 0,
    plan TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    fingerprint TEXT
);
CREATE INDEX IF NOT EXISTS jobs_fingerprint ON jobs (fingerprint, state);

-- The distinct numbers a job needs and, once known, their answer.
CREATE TABLE IF NOT EXISTS job_numbers (
    job_id TEXT NOT NULL,
    e164 TEXT NOT NULL,
    task_ref INTEGER,
    answer TEXT,
    reason TEXT,
    source TEXT,
    checked_at REAL,
    PRIMARY KEY (job_id, e164)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_numbers_task ON job_numbers (task_ref) WHERE answer IS NULL;

-- Upstream tasks (states: addin/engine/states.py). The row exists before the
-- upload; the vendor's task id is stored the moment the create returns.
-- lease_owner/lease_expires: the runner that may work on it (renewed by a
-- heartbeat); key_fp: a fingerprint of the API key that created it (never the key).
CREATE TABLE IF NOT EXISTS tasks (
    ref INTEGER PRIMARY KEY AUTOINCREMENT,
    realm TEXT NOT NULL,
    job_id TEXT NOT NULL,
    task_id TEXT UNIQUE,
    state TEXT NOT NULL,
    n_numbers INTEGER NOT NULL,
    vendor_status TEXT,
    total INTEGER NOT NULL DEFAULT 0,
    success INTEGER NOT NULL DEFAULT 0,
    failure INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    create_attempts INTEGER NOT NULL DEFAULT 0,
    uncertain_creates INTEGER NOT NULL DEFAULT 0,
    created_at REAL,
    updated_at REAL NOT NULL,
    finished_at REAL,
    lease_owner TEXT,
    lease_expires REAL,
    key_fp TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS tasks_open ON tasks (realm, state);

-- The numbers uploaded in each task.
CREATE TABLE IF NOT EXISTS task_numbers (
    ref INTEGER NOT NULL,
    e164 TEXT NOT NULL,
    PRIMARY KEY (ref, e164)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS task_numbers_e164 ON task_numbers (e164);

-- The money rule, enforced by the database: a number is in at most one open
-- task of a realm. Rows live from the claim to the end of the task.
CREATE TABLE IF NOT EXISTS claims (
    realm TEXT NOT NULL,
    e164 TEXT NOT NULL,
    ref INTEGER NOT NULL,
    PRIMARY KEY (realm, e164)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_ref ON claims (ref);

-- One record per vendor request outcome: billed (a 2xx), possibly billed
-- (no usable answer after the request may have arrived) or free.
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    realm TEXT NOT NULL,
    key_fp TEXT,
    ref INTEGER,
    kind TEXT NOT NULL,
    billing TEXT NOT NULL,
    status INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    count INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS requests_ref ON requests (ref);
CREATE INDEX IF NOT EXISTS requests_realm ON requests (realm);
