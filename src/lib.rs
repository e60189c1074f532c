//! # Aftercare
//!
//! A REST backend for clinics that perform microneedling and for their patients' app. It keeps
//! each patient's course and sessions, plans and emails aftercare reminders, takes check-ins and
//! photos, records progress scores on validated scales and alerts clinicians when recovery goes
//! off track.
//!
//! A request flows route → handler (extract, authorize, validate) → service or repo → DTO.
//! `domain` holds pure rules (no IO, time as a parameter); `repo` holds diesel queries that run
//! unchanged on SQLite and PostgreSQL; `http` is the edge; `startup` wires it all together.

pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod email;
pub mod error;
pub mod http;
pub mod i18n;
pub mod jobs;
pub mod media;
pub mod push;
pub mod repo;
pub mod security;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod wire;
