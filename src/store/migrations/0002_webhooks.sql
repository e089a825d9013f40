-- Webhook delivery: which outbox events have been routed to webhooks, one delivery row
-- per (webhook, event), the attempts made for it, and each webhook's health (circuit).
-- Times are epoch milliseconds.

-- When the router copied an event into `webhook_deliveries` (NULL = not yet). Marking
-- rows instead of keeping a cursor: on PostgreSQL a sequence value is taken at insert and
-- becomes visible at commit, so a cursor would skip an event whose transaction commits
-- after a later one. Events older than this migration count as routed.
ALTER TABLE events ADD COLUMN routed_at BIGINT;
UPDATE events SET routed_at = created_at;
CREATE INDEX events_unrouted ON events (seq) WHERE routed_at IS NULL;

CREATE TABLE webhook_deliveries (
    id {serial},
    webhook_id TEXT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_seq BIGINT NOT NULL,
    kind TEXT NOT NULL,
    -- Deliveries sharing a key reach their webhook one at a time in event_seq order
    -- (the conversation, else the user); NULL = no ordering constraint.
    order_key TEXT,
    -- The event object as sent ({id, type, createdAt, payload}), shaped for this webhook.
    body TEXT NOT NULL,
    state TEXT NOT NULL,              -- pending | delivered | failed
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,                 -- the node sending it right now
    lease_until BIGINT,               -- after this, another node may take it over
    last_status BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE UNIQUE INDEX webhook_deliveries_by_event ON webhook_deliveries (webhook_id, event_id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (webhook_id, order_key, event_seq);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at);

CREATE TABLE webhook_attempts (
    id {serial},
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    webhook_id TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    node TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status BIGINT,                    -- the HTTP status, NULL when none came back
    error TEXT
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, id);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, id);

CREATE TABLE webhook_health (
    webhook_id TEXT PRIMARY KEY REFERENCES webhooks(id) ON DELETE CASCADE,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    parked_until BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    last_success_at BIGINT
);
