-- Every attempt to send a message, on whichever channel.
CREATE TABLE sms_attempts (
    id          INTEGER PRIMARY KEY,
    outbox_id   INTEGER NOT NULL REFERENCES sms_outbox(id) ON DELETE CASCADE,
    channel     TEXT NOT NULL,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL,   -- sent, unknown, retryable, permanent
    provider_id TEXT,
    error       TEXT
);
CREATE INDEX sms_attempts_outbox ON sms_attempts(outbox_id);

-- An earlier attempt's outcome was unknown, then another channel sent it:
-- the recipient may get it twice.
ALTER TABLE sms_outbox ADD COLUMN possible_duplicate INTEGER NOT NULL DEFAULT 0;
