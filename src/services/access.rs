//! Scope: what a caller may see. Staff see their clinic; a patient sees only their own record.
//! Anything outside the caller's scope is "not found", never "forbidden", so ids reveal nothing.

use diesel::QueryResult;

use crate::{
    db::DbConnection,
    domain::Role,
    repo::{
        courses::{self, Course},
        patients::{self, Patient},
        screenings::{self, Screening},
        sessions::{self, Session},
    },
    security::caller::AuthUser,
};

/// The patient `id` if the caller may see it.
pub fn patient(conn: &mut DbConnection, user: &AuthUser, id: &str) -> QueryResult<Option<Patient>> {
    let found = patients::find_in_clinic(conn, &user.clinic_id, id)?;
    Ok(found.filter(|p| user.role.is_staff() || p.account_id.as_deref() == Some(user.account_id.as_str())))
}

/// The caller's own record (`staff_patient` = `None`), or the patient `staff_patient` of a
/// staff member's clinic; a patient naming a patient id gets nothing.
pub fn own_or_staff_patient(
    conn: &mut DbConnection,
    user: &AuthUser,
    staff_patient: Option<&str>,
) -> QueryResult<Option<Patient>> {
    match staff_patient {
        None => own_patient(conn, user),
        Some(id) if user.role.is_staff() => patient(conn, user, id),
        Some(_) => Ok(None),
    }
}

/// The same scope as [`own_or_staff_patient`], as a filter for reading a patient's rows in one
/// statement. An empty result does not tell "no rows" from "no such patient": ask
/// `own_or_staff_patient` then.
pub fn scope<'a>(user: &'a AuthUser, staff_patient: Option<&'a str>) -> Option<patients::Scope<'a>> {
    let clinic_id = user.clinic_id.as_str();
    match staff_patient {
        None if user.role == Role::Patient => {
            Some(patients::Scope::Own { account_id: user.account_id.as_str(), clinic_id })
        }
        Some(patient_id) if user.role.is_staff() => Some(patients::Scope::InClinic { patient_id, clinic_id }),
        _ => None,
    }
}

/// The patient a read filtered by [`scope`] was about: the one its rows name or, when it found
/// none, the one [`own_or_staff_patient`] finds — `None` when there is no such patient (404).
pub fn scoped_patient_id(
    conn: &mut DbConnection,
    user: &AuthUser,
    staff_patient: Option<&str>,
    named_by_rows: Option<&str>,
) -> QueryResult<Option<String>> {
    match named_by_rows {
        Some(id) => Ok(Some(id.to_owned())),
        None => Ok(own_or_staff_patient(conn, user, staff_patient)?.map(|p| p.id)),
    }
}

/// The patient record linked to a patient's own login.
pub fn own_patient(conn: &mut DbConnection, user: &AuthUser) -> QueryResult<Option<Patient>> {
    if user.role != Role::Patient {
        return Ok(None);
    }
    Ok(patients::find_by_account(conn, &user.account_id)?.filter(|p| p.clinic_id == user.clinic_id))
}

fn visible(user: &AuthUser, clinic_id: &str, patient: Option<&Patient>) -> bool {
    clinic_id == user.clinic_id
        && (user.role.is_staff() || patient.is_some_and(|p| p.account_id.as_deref() == Some(user.account_id.as_str())))
}

pub fn course(conn: &mut DbConnection, user: &AuthUser, id: &str) -> QueryResult<Option<(Course, Patient)>> {
    let Some(course) = courses::find_course(conn, id)? else { return Ok(None) };
    let Some(patient) = patients::find_in_clinic(conn, &user.clinic_id, &course.patient_id)? else { return Ok(None) };
    Ok(visible(user, &course.clinic_id, Some(&patient)).then_some((course, patient)))
}

pub fn session(conn: &mut DbConnection, user: &AuthUser, id: &str) -> QueryResult<Option<(Session, Patient)>> {
    let Some(session) = sessions::find_session(conn, id)? else { return Ok(None) };
    let Some(patient) = patients::find_in_clinic(conn, &user.clinic_id, &session.patient_id)? else { return Ok(None) };
    Ok(visible(user, &session.clinic_id, Some(&patient)).then_some((session, patient)))
}

pub fn screening(conn: &mut DbConnection, user: &AuthUser, id: &str) -> QueryResult<Option<Screening>> {
    let Some(s) = screenings::find_screening(conn, id)? else { return Ok(None) };
    Ok((s.clinic_id == user.clinic_id && user.role.is_staff()).then_some(s))
}
