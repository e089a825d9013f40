//! The rules of the platform. No I/O here: functions take values and return values.

pub mod animals;
pub mod app;
pub mod attachment;
pub mod auth;
pub mod channel;
pub mod client;
pub mod conversation;
pub mod delivery;
pub mod error;
pub mod event;
pub mod ids;
pub mod integration;
pub mod message;
pub mod metadata;
pub mod oauth;
pub mod origin;
pub mod pagination;
pub mod sdk;
pub mod switchboard;
pub mod time;
pub mod user;
pub mod validate;
pub mod webhook;
