-- PostgreSQL's own limit for 16 messages per transaction (ARCHITECTURE.md, "The store"); set up
-- the tables as scripts/pgbench-message.sql says, then: pgbench -h 127.0.0.1 -U postgres -n -c 2 -j 2 -T 10 -M prepared -f scripts/pgbench-multirow16.sql <database>
-- The same sixteen messages as four multi-row statements in one (a data-modifying WITH).
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
WITH v(id) AS (VALUES ('conv' || (:c0)::int::text),('conv' || (:c1)::int::text),('conv' || (:c2)::int::text),('conv' || (:c3)::int::text),('conv' || (:c4)::int::text),('conv' || (:c5)::int::text),('conv' || (:c6)::int::text),('conv' || (:c7)::int::text),('conv' || (:c8)::int::text),('conv' || (:c9)::int::text),('conv' || (:c10)::int::text),('conv' || (:c11)::int::text),('conv' || (:c12)::int::text),('conv' || (:c13)::int::text),('conv' || (:c14)::int::text),('conv' || (:c15)::int::text)), b AS (UPDATE pgb_conv c SET last_seq = c.last_seq + 1, message_count = c.message_count + 1, last_updated_at = 1 FROM v WHERE c.id = v.id RETURNING c.id, c.last_seq, c.body), m AS (INSERT INTO pgb_msgs SELECT id, nextval('pgb_seq'), md5(random()::text), '{"type":"text","text":"hello from the bench, a typical message body"}' FROM b), p AS (UPDATE pgb_part SET unread_count = unread_count + 1 WHERE conversation_id IN (SELECT id FROM b) AND user_id <> ''), e AS (INSERT INTO pgb_ev (id, app_id, kind, conversation_id, payload, created_at, routed_at) SELECT md5(random()::text), 'app', 'conversation' || chr(58) || 'message', id, '{"v":1,"data":{"message":{"type":"text","text":"hello from the bench, a typical message body"}}}', 1, 1 FROM b) SELECT id, last_seq, body FROM b;
