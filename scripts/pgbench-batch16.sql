-- PostgreSQL's own limit for 16 messages per transaction (ARCHITECTURE.md, "The store"); set up
-- the tables as scripts/pgbench-message.sql says, then: pgbench -h 127.0.0.1 -U postgres -n -c 2 -j 2 -T 10 -M prepared -f scripts/pgbench-batch16.sql <database>
-- Sixteen message-shaped statement groups, one after another in one transaction.
-- Conversations ascend, so that clients cannot deadlock.
\set c0 random(1, 8)
\set c1 :c0 + random(1, 15)
\set c2 :c1 + random(1, 15)
\set c3 :c2 + random(1, 15)
\set c4 :c3 + random(1, 15)
\set c5 :c4 + random(1, 15)
\set c6 :c5 + random(1, 15)
\set c7 :c6 + random(1, 15)
\set c8 :c7 + random(1, 15)
\set c9 :c8 + random(1, 15)
\set c10 :c9 + random(1, 15)
\set c11 :c10 + random(1, 15)
\set c12 :c11 + random(1, 15)
\set c13 :c12 + random(1, 15)
\set c14 :c13 + random(1, 15)
\set c15 :c14 + random(1, 15)
BEGIN;
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c0)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c0)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c0)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c0)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c1)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c1)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c1)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c1)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c2)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c2)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c2)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c2)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c3)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c3)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c3)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c3)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c4)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c4)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c4)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c4)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c5)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c5)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c5)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c5)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c6)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c6)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c6)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c6)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c7)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c7)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c7)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c7)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c8)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c8)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c8)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c8)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c9)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c9)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c9)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c9)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c10)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c10)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c10)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c10)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c11)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c11)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c11)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c11)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c12)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c12)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c12)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c12)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c13)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c13)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c13)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c13)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c14)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c14)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c14)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c14)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
UPDATE pgb_conv SET last_seq = last_seq + 1, message_count = message_count + 1, last_updated_at = 1 WHERE id = 'conv' || (:c15)::int::text RETURNING last_seq, body;
INSERT INTO pgb_msgs VALUES ('conv' || (:c15)::int::text, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}');
UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id = 'conv' || (:c15)::int::text AND user_id <> '';
INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) VALUES (md5(random()::text), 'app', 'conversation' || chr(58) || 'message', 'conv' || (:c15)::int::text, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1);
COMMIT;
