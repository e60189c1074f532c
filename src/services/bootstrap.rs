//! Creating a clinic and its first admin from the command line.

use crate::{
    db::{Db, new_id, to_db},
    domain::Role,
    repo::{
        accounts::{self, Account},
        clinics::{self, Clinic},
    },
    security::{normalize_email, password},
};

/// What `create-admin` made.
#[derive(Debug)]
pub struct Bootstrapped {
    pub clinic_id: String,
    pub account_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("`{0}` is not an email address")]
    BadEmail(String),
    #[error("the clinic name must not be empty")]
    NoClinicName,
    #[error("the password {0}")]
    BadPassword(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
    #[error("database: {0}")]
    Db(String),
}

impl From<crate::db::DbError> for BootstrapError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Db(e.to_string())
    }
}

impl From<diesel::result::Error> for BootstrapError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e.to_string())
    }
}

/// Creates a clinic named `clinic_name` and an admin account in it (blocking).
pub fn create_admin(
    db: &Db,
    clinic_name: &str,
    email: &str,
    password: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Bootstrapped, BootstrapError> {
    let email = normalize_email(email).ok_or_else(|| BootstrapError::BadEmail(email.to_owned()))?;
    let clinic_name = clinic_name.trim();
    if clinic_name.is_empty() {
        return Err(BootstrapError::NoClinicName);
    }
    let owner = password::PasswordOwner { email: &email, name: None, clinic_name: Some(clinic_name) };
    password::check_new_password(password, &owner).map_err(BootstrapError::BadPassword)?;
    let hash = password::hash_blocking(password)?;
    db.write_blocking(|c| {
        if accounts::email_taken(c, &email)? {
            return Err(BootstrapError::EmailTaken);
        }
        let clinic =
            Clinic { id: new_id(), name: clinic_name.to_owned(), created_at: to_db(now), reply_to: None, phone: None };
        clinics::insert_clinic(c, &clinic)?;
        let account = Account {
            id: new_id(),
            clinic_id: clinic.id.clone(),
            email: email.clone(),
            password_hash: hash,
            role: Role::Admin.as_str().to_owned(),
            created_at: to_db(now),
            updated_at: to_db(now),
            deactivated_at: None,
        };
        accounts::insert_account(c, &account)?;
        Ok(Bootstrapped { clinic_id: clinic.id, account_id: account.id })
    })
}
