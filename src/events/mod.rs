//! Events: the durable outbox readers (webhook delivery, live fan-out).
