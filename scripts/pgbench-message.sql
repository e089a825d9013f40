-- PostgreSQL's own limit for one message-shaped transaction, without HTTP or Sunbeam
-- (ARCHITECTURE.md, "The store"). Set up once, in an empty database:
--   CREATE TABLE pgb_conv (id text PRIMARY KEY, last_seq bigint NOT NULL DEFAULT 0, message_count bigint NOT NULL DEFAULT 0, last_updated_at bigint, body text);
--   INSERT INTO pgb_conv (id, body) SELECT 'conv' || g, '{"metadata":null}' FROM generate_series(1, 256) g;
--   CREATE TABLE pgb_part (conversation_id text, user_id text, unread_count bigint DEFAULT 0, PRIMARY KEY (conversation_id, user_id));
--   INSERT INTO pgb_part SELECT 'conv' || g, 'user' || g, 0 FROM generate_series(1, 256) g;
--   CREATE TABLE pgb_msgs (conv text, seq bigint, id text, body text, PRIMARY KEY (conv, seq));
--   CREATE SEQUENCE pgb_seq;
--   CREATE TABLE pgb_ev (seq bigserial PRIMARY KEY, id text, app_id text, kind text, conversation_id text, payload text, created_at bigint, routed_at bigint);
-- Then: pgbench -h 127.0.0.1 -U postgres -n -c 64 -j 2 -T 10 -M prepared -f scripts/pgbench-message.sql <database>
\set c random(1, 256)
BEGIN;
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
COMMIT;
