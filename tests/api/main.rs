//! HTTP tests: the real server on a loopback port, driven over HTTP.

#[path = "../common/mod.rs"]
mod common;

mod cluster;
mod conversations;
mod coverage;
mod first_run;
mod foundation;
mod integrations;
mod messages;
mod oauth;
mod attack;
mod observability;
mod auth;
mod clients;
mod apps;
mod attachments;
mod keys;
mod limits;
mod updates;
mod users;
mod wire;
mod webhooks;
mod realtime;
mod sdk;
mod switchboards;
mod settings;
