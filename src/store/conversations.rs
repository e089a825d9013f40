//! Conversations and participants.
