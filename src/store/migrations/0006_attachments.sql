-- Uploaded files (UploadAttachment, the SDK's file upload). The bytes live in the storage
-- backend (a local folder or an S3 bucket) under the row's id; the row says what they are
-- and who owns them. No foreign keys: when an owner goes, its files must be marked
-- `doomed` in that same transaction (a cascade would drop the row and leak the object);
-- the sweeper then removes the object and only after that the row.
-- `state`: uploading | ready | doomed (domain::attachment::AttachmentState). Times are epoch ms.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    for_message INTEGER NOT NULL,
    conversation_id TEXT,
    message_id TEXT,
    user_id TEXT,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    state_at BIGINT NOT NULL
);
CREATE INDEX attachments_by_app ON attachments (app_id);
CREATE INDEX attachments_by_conversation ON attachments (conversation_id) WHERE conversation_id IS NOT NULL;
CREATE INDEX attachments_by_message ON attachments (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX attachments_by_user ON attachments (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX attachments_to_sweep ON attachments (state, state_at) WHERE state <> 'ready';
