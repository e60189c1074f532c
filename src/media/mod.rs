//! Photos: processing (decode, orient, strip, thumbnail, redness) and storage.

pub mod chart;
pub mod process;
pub mod store;
