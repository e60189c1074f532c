//! What goes on the wire, in one place: JSON written for the largest lists, instants as the API
//! writes them, and cursor pagination (`{items, next_cursor}`). Below `services` and `http`, so
//! both use it without importing upwards.

pub mod json;
pub mod pagination;
