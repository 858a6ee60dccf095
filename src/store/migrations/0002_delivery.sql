-- What the channel said about a sent message: its own id for the message
-- (a modem's TP-MR, a gateway's message id) and the delivery report.
ALTER TABLE sms_outbox ADD COLUMN provider_id TEXT;
ALTER TABLE sms_outbox ADD COLUMN delivery TEXT;          -- delivered, failed
ALTER TABLE sms_outbox ADD COLUMN delivery_at INTEGER;
CREATE INDEX outbox_provider ON sms_outbox(channel, provider_id) WHERE provider_id IS NOT NULL;

-- A report can overtake the record of its send (the modem answers +CMGS and
-- +CDS in one breath): it waits here until the send is recorded.
CREATE TABLE sms_reports_unmatched (
    channel     TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    delivered   INTEGER NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE INDEX sms_reports_unmatched_key ON sms_reports_unmatched(channel, provider_id);
