//! Photos: processing (decode, orient, strip, thumbnail, redness) and storage.

pub mod chart;
pub mod decode;
pub mod orient;
pub mod process;
pub mod store;
