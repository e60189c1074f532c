//! Checks on request fields that use cases share: trimmed text of bounded length, each item
//! once, PATCH's absent-versus-null, and a collector that turns every failed check into one 422.
//! The HTTP layer re-exports them for its handlers.

use crate::error::{ApiError, FieldError};

/// For PATCH bodies: an absent field is `None`, `null` is `Some(None)`, a value is `Some(Some(v))`.
pub fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}

/// Collects field errors while checking a body; finishes as one 422 with all of them.
#[derive(Default)]
pub struct Checks(pub Vec<FieldError>);

impl Checks {
    /// Records `Err(message)` against `field` and returns the value when it was fine.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(message) => {
                self.0.push(FieldError::new(field, message));
                None
            }
        }
    }

    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Ok when nothing failed, else the 422.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::validation(self.0)) }
    }
}

/// Each item once, in the order first given (a list of concerns or events named twice).
pub fn each_once<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut unique: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        if !unique.contains(item) {
            unique.push(*item);
        }
    }
    unique
}

/// Trimmed text of 1..=max characters.
pub fn text(value: &str, max: usize) -> Result<String, String> {
    let t = value.trim();
    if t.is_empty() {
        Err("must not be empty".to_owned())
    } else if t.chars().count() > max {
        Err(format!("must be at most {max} characters"))
    } else {
        Ok(t.to_owned())
    }
}
