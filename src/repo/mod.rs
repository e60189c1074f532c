//! Diesel queries, one file per aggregate; each function takes a connection and returns
//! `QueryResult`, so services can compose them inside one transaction.

pub mod accounts;
pub mod clinics;
pub mod invitations;
pub mod refresh_tokens;
