-- The switchboard (at most one per app), its switchboard integrations (each links one of
-- the app's integrations), and every conversation's control state. Times are epoch ms.

CREATE TABLE switchboards (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    enabled BIGINT NOT NULL,
    default_switchboard_integration_id TEXT,
    created_at BIGINT NOT NULL
);
-- One per app: a second CreateSwitchboard, however concurrent, is refused here.
CREATE UNIQUE INDEX switchboards_by_app ON switchboards (app_id);

-- `body` is the switchboardIntegration document as shown; `name` and `integration_id`
-- repeat it for the uniqueness a pass by name and the webhook gating rely on.
-- Deleting the linked integration deletes its switchboard integration.
CREATE TABLE switchboard_integrations (
    id TEXT PRIMARY KEY,
    switchboard_id TEXT NOT NULL REFERENCES switchboards(id) ON DELETE CASCADE,
    app_id TEXT NOT NULL,
    integration_id TEXT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX switchboard_integrations_by_name ON switchboard_integrations (switchboard_id, name);
CREATE UNIQUE INDEX switchboard_integrations_by_integration ON switchboard_integrations (switchboard_id, integration_id);

-- Who controls each conversation, by switchboard integration id (NULL = nobody). An id
-- whose switchboard integration was deleted since holds nothing: readers ignore it and the
-- conversation's next message hands it to the default.
ALTER TABLE conversations ADD COLUMN active_switchboard_integration_id TEXT;
ALTER TABLE conversations ADD COLUMN pending_switchboard_integration_id TEXT;
