//! Use cases that touch several repositories, each in one transaction.

pub mod access;
pub mod account;
pub mod alerts;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod calendar;
pub mod checkins;
pub mod consents;
pub mod courses;
pub mod export;
pub mod fhir;
pub mod invitations;
pub mod login_sessions;
pub mod password_reset;
pub mod patients;
pub mod photos;
pub mod record;
pub mod reminders;
pub mod scales;
pub mod scores;
pub mod screenings;
pub mod sessions;
pub mod staff;
pub mod validation;
pub mod webhooks;
