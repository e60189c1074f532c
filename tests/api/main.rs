//! One integration binary: a real server per test on a random port, a fresh database per test
//! (SQLite file, or a PostgreSQL database when `TEST_DATABASE_URL` is set).
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on the first surprise"
)]

mod accounts;
mod auth;
mod cli;
mod clinical;
mod errors;
mod helpers;
mod interop;
mod invitations;
mod language;
mod mail;
mod matrix;
mod metrics;
mod operations;
mod pages;
mod pagination;
mod photos;
mod project;
mod push;
mod reliability;
mod reminders;
mod representation;
mod security_accounts;
mod security_network;
mod security_sessions;
mod security_uploads;
mod smtp_sink;
mod webhooks;
