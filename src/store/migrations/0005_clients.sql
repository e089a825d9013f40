-- Clients and devices (the spec's Clients and Devices tags), OAuth partners, retention.
-- Times are epoch ms.

-- An SDK install gets a v2 client id and a device id (24 hex). Rows from before this
-- migration get theirs when the store opens (ids are made by the application).
ALTER TABLE sdk_clients ADD COLUMN id TEXT;
ALTER TABLE sdk_clients ADD COLUMN device_id TEXT;
CREATE UNIQUE INDEX sdk_clients_by_id ON sdk_clients (id);
CREATE INDEX sdk_clients_by_user_id ON sdk_clients (user_id, id);

-- Channel links asked for through CreateClient (mailgun, messagebird, twilio, whatsapp).
-- `body` is the client document; one link per user and integration.
CREATE TABLE channel_clients (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX channel_clients_by_user ON channel_clients (user_id, id);
CREATE UNIQUE INDEX channel_clients_by_user_integration ON channel_clients (user_id, integration_id);
CREATE INDEX channel_clients_by_integration ON channel_clients (integration_id);

-- Sunshine Conversations Connect partners, registered by an operator. The secret is
-- random and high-entropy, so only its SHA-256 (hex) is kept. `redirect_uris` is a JSON
-- array of the exact URIs a code may be sent to.
CREATE TABLE oauth_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    remove_url TEXT,
    created_at BIGINT NOT NULL
);

-- Authorization codes: single use (`used_at`), short-lived, SHA-256 kept.
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES oauth_clients(client_id) ON DELETE CASCADE,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX oauth_codes_by_expiry ON oauth_codes (expires_at);

-- Retention (`conversationRetentionSeconds`): the sweep finds an app's conversations
-- that still hold messages and have been idle since before a time.
CREATE INDEX conversations_to_retain ON conversations (app_id, last_updated_at) WHERE message_count > 0;
