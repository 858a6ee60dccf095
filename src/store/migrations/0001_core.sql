-- Timestamps are Unix milliseconds (INTEGER). Every row below accounts
-- belongs to exactly one account and every query filters by it.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    scope       TEXT NOT NULL CHECK (scope IN ('auth', 'manage')),
    key_hash    BLOB NOT NULL UNIQUE,   -- SHA-256 of the whole key
    prefix      TEXT NOT NULL,          -- first characters, to recognise a key in a list
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id);

CREATE TABLE policies (
    id          INTEGER PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,          -- JSON PolicySpec: new rule kinds are new fields
    builtin     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE systems (
    id          INTEGER PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    policy_id   INTEGER NOT NULL REFERENCES policies(id),
    link_url    TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX systems_policy ON systems(policy_id);

CREATE TABLE users (
    id           INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,         -- lower-cased
    phone        TEXT NOT NULL,         -- E.164
    name         TEXT NOT NULL DEFAULT '',
    enabled      INTEGER NOT NULL DEFAULT 1,
    failed_count INTEGER NOT NULL DEFAULT 0,  -- consecutive wrong secrets
    locked_at    INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (account_id, email)
);

CREATE TABLE grants (
    system_id   INTEGER NOT NULL REFERENCES systems(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (system_id, user_id)
) WITHOUT ROWID;
CREATE INDEX grants_user ON grants(user_id);

CREATE TABLE challenges (
    id                TEXT PRIMARY KEY,   -- the request_id
    account_id        TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email             TEXT NOT NULL,
    system_id         INTEGER REFERENCES systems(id) ON DELETE SET NULL,
    system_name       TEXT NOT NULL,
    user_id           INTEGER REFERENCES users(id) ON DELETE SET NULL,
    decoy_reason      TEXT,               -- set when the start sent no SMS on purpose
    status            TEXT NOT NULL,
    policy            TEXT NOT NULL,      -- JSON PolicySpec as it was at the start
    step_index        INTEGER NOT NULL DEFAULT 0,
    amr               TEXT NOT NULL DEFAULT '[]',
    secret_hash       BLOB,               -- HMAC of the live PIN or link token
    secret_expires_at INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    sms_count         INTEGER NOT NULL DEFAULT 0,
    last_sms_at       INTEGER,
    context           TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER
);
CREATE INDEX challenges_lookup ON challenges(account_id, email, system_name, created_at);
CREATE UNIQUE INDEX challenges_secret ON challenges(secret_hash) WHERE secret_hash IS NOT NULL;

CREATE TABLE sms_outbox (
    id              INTEGER PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    challenge_id    TEXT REFERENCES challenges(id) ON DELETE SET NULL,
    to_phone        TEXT NOT NULL,
    body            BLOB,               -- sealed with the server key; NULL once final
    status          TEXT NOT NULL,      -- queued, sending, sent, failed, expired
    attempts        INTEGER NOT NULL DEFAULT 0,
    not_after       INTEGER,            -- the secret's expiry: never sent after it
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    channel         TEXT,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON sms_outbox(status, next_attempt_at);
CREATE INDEX outbox_challenge ON sms_outbox(challenge_id) WHERE challenge_id IS NOT NULL;

CREATE TABLE usage (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    month       TEXT NOT NULL,          -- YYYY-MM (UTC)
    starts      INTEGER NOT NULL DEFAULT 0,
    approvals   INTEGER NOT NULL DEFAULT 0,
    failures    INTEGER NOT NULL DEFAULT 0,
    sms_sent    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, month)
) WITHOUT ROWID;
