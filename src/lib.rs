//! Sunbeam: a self-hosted messaging server, wire-compatible with the Sunshine
//! Conversations REST API v2. See ARCHITECTURE.md for the map.

pub mod attachments;
pub mod bench;
pub mod config;
pub mod doctor;
pub mod domain;
pub mod events;
pub mod http;
pub mod metrics;
pub mod os;
pub mod periodic;
pub mod realtime;
pub mod retention;
pub mod server;
pub mod store;
pub mod wire;
