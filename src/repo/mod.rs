//! Diesel queries, one file per aggregate; each function takes a connection and returns
//! `QueryResult`, so services can compose them inside one transaction.

pub mod accounts;
pub mod alert_notifications;
pub mod alerts;
pub mod audit;
pub mod audit_sink;
pub mod calendar;
pub mod checkins;
pub mod clinics;
pub mod consents;
pub mod courses;
pub mod devices;
pub mod erasure;
pub mod idempotency;
pub mod invitations;
pub mod lease;
pub mod password_resets;
pub mod patients;
pub mod photos;
pub mod protocols;
pub mod refresh_tokens;
pub mod reminder_deliveries;
pub mod reminders;
pub mod scoped;
pub mod scores;
pub mod screenings;
pub mod sessions;
pub mod webhooks;
