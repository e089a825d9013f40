//! HTTP tests: the real server on a loopback port, driven over HTTP.

#[path = "../common/mod.rs"]
mod common;

mod conversations;
mod first_run;
mod foundation;
mod integrations;
mod messages;
mod auth;
mod apps;
mod attachments;
mod keys;
mod users;
mod wire;
mod webhooks;
mod realtime;
mod sdk;
