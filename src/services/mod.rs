//! Use cases that touch several repositories, each in one transaction.

pub mod auth;
pub mod bootstrap;
pub mod invitations;
