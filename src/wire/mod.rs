//! Wire shapes rendered from domain values, one module per audience. Used by `http`,
//! `events` and `realtime`; it does no I/O and knows nothing of transports.
//!
//! - [`webhook`]: the v2 webhook payload of each [`crate::domain::event::Event`], the event
//!   object and the envelope POSTed to a target.
//! - [`sdk`]: the end-user SDKs' realtime events for each domain event (sdk-protocol §5).

pub mod sdk;
pub mod webhook;
