-- Admin UI (issue 6): operators, their sessions, one-time setup links, and
-- the audit log.

-- A person who logs into the admin UI: appliance-wide, or one account's.
CREATE TABLE operators (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,      -- lower-cased
    password_hash TEXT,                      -- argon2id (PHC string); NULL until set through a setup link
    role          TEXT NOT NULL CHECK (role IN ('appliance', 'account')),
    account_id    TEXT REFERENCES accounts(id) ON DELETE CASCADE,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    CHECK ((role = 'appliance') = (account_id IS NULL))
);

-- Browser sessions. The cookie holds a random id; only its SHA-256 is kept.
CREATE TABLE operator_sessions (
    id_hash      BLOB PRIMARY KEY,
    operator_id  INTEGER NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX operator_sessions_operator ON operator_sessions(operator_id);

-- One-time links to choose a password: the first operator's (operator_id
-- NULL: the page also asks for the username) or a created operator's.
CREATE TABLE setup_tokens (
    token_hash   BLOB PRIMARY KEY,           -- SHA-256 of the token
    operator_id  INTEGER REFERENCES operators(id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);

-- Every admin change and every login decision. No foreign keys: the record
-- outlives what it describes. Never holds a secret.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,     -- key:<key id>, operator:<username>, cli, system
    action      TEXT NOT NULL,     -- e.g. policy.create, login.start
    account_id  TEXT,              -- NULL for appliance-wide actions
    target      TEXT,              -- e.g. policy:office, user:ann@example.com, request:req_...
    outcome     TEXT NOT NULL,     -- ok, approved, pending, denied, wrong_pin, ...
    detail      TEXT               -- JSON object
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_account_at ON audit_log(account_id, at);

-- The dashboard's recent logins and per-hour counts of an account.
CREATE INDEX challenges_account_time ON challenges(account_id, created_at);
