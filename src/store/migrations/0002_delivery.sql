-- What the channel said about a sent message: its own id for the message
-- (a modem's TP-MR, a gateway's message id) and the delivery report.
ALTER TABLE sms_outbox ADD COLUMN provider_id TEXT;
ALTER TABLE sms_outbox ADD COLUMN delivery TEXT;          -- delivered, failed
ALTER TABLE sms_outbox ADD COLUMN delivery_at INTEGER;
CREATE INDEX outbox_provider ON sms_outbox(channel, provider_id) WHERE provider_id IS NOT NULL;
