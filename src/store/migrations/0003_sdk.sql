-- The end-user SDK API (sdk-protocol §3–§6): session tokens of anonymous users and the
-- SDK clients (one per browser/device `clientId`) attached to users. Times are epoch ms.

-- Session tokens are random and high-entropy, so only their SHA-256 (hex) is kept.
-- A token is valid while `revoked_at` is NULL and its user is still anonymous.
CREATE TABLE sdk_sessions (
    token_hash TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sdk_sessions_by_user ON sdk_sessions (user_id);

-- `client_id` is the browser's (or device's) own id, as sent in `x-smooch-clientid`.
-- `body` is the client document (platform, integrationId, info, status, times).
CREATE TABLE sdk_clients (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    app_id TEXT NOT NULL,
    body TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
CREATE INDEX sdk_clients_by_client ON sdk_clients (app_id, client_id);
