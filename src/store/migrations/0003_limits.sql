-- Anti-pumping limits (docs/api.md "SMS limits").

-- The windows count an account's SMS by time, by number and by prefix
-- (to_phone in the time index lets the prefix window read the index only).
CREATE INDEX outbox_account_time ON sms_outbox(account_id, created_at, to_phone);
CREATE INDEX outbox_account_phone_time ON sms_outbox(account_id, to_phone, created_at);

-- An account's own list of country calling codes SMS may go to; without a
-- row the configured default applies. `allowed` is comma-separated, '' = all.
CREATE TABLE sms_countries (
    account_id  TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
    allowed     TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- The SMS a look-alike start would have sent (it sends none), so the
-- per-number limit answers for an unknown email as it would for a user.
CREATE TABLE sms_lookalike_sends (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX sms_lookalike_sends_key ON sms_lookalike_sends(account_id, email, at);

-- Refused sends, one row per account, email, reason and hour (UTC) with a
-- count, so a flood of refused calls cannot flood the disk.
CREATE TABLE sms_refusals (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    reason      TEXT NOT NULL,      -- per_number, per_prefix, account_hour, account_day, country
    hour        INTEGER NOT NULL,   -- start of the hour, Unix ms
    to_phone    TEXT,               -- NULL for a look-alike start (no number)
    count       INTEGER NOT NULL,
    first_at    INTEGER NOT NULL,
    last_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, email, reason, hour)
) WITHOUT ROWID;
CREATE INDEX sms_refusals_recent ON sms_refusals(account_id, last_at);
