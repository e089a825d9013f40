-- Times are epoch milliseconds (BIGINT); documents are JSON text; flags are 0/1 BIGINT.

CREATE TABLE account_keys (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE apps (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    settings TEXT NOT NULL,
    metadata TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE app_keys (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX app_keys_by_app ON app_keys (app_id, id);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    external_id TEXT,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- NULL externalIds (anonymous users) are distinct in both dialects.
CREATE UNIQUE INDEX users_by_external_id ON users (app_id, external_id);

CREATE TABLE user_identities (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, kind, value)
);
CREATE INDEX user_identities_by_value ON user_identities (app_id, kind, value);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    is_default BIGINT NOT NULL,
    body TEXT NOT NULL,
    business_last_read BIGINT,
    last_seq BIGINT NOT NULL DEFAULT 0,
    message_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_updated_at BIGINT NOT NULL
);
CREATE INDEX conversations_by_app ON conversations (app_id, id);

CREATE TABLE participants (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    unread_count BIGINT NOT NULL DEFAULT 0,
    last_read BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX participants_by_conversation_user ON participants (conversation_id, user_id);
CREATE INDEX participants_by_conversation ON participants (conversation_id, id);
CREATE INDEX participants_by_user ON participants (user_id, conversation_id);

CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    received BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_by_id ON messages (id);

-- The outbox: every state change appends here in the transaction that makes it.
CREATE TABLE events (
    seq {serial},
    id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    conversation_id TEXT,
    payload TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_by_app ON events (app_id, seq);

CREATE TABLE integrations (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX integrations_by_app ON integrations (app_id, id);

CREATE TABLE integration_keys (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX integration_keys_by_integration ON integration_keys (integration_id, id);

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_by_app ON webhooks (app_id, id);
CREATE INDEX webhooks_by_integration ON webhooks (integration_id, id);
