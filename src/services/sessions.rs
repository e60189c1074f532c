//! Treatment sessions: recorded under a course, gated by a recent screening, with per-area
//! needle depths. Depths outside the device range are refused; unusual depths, a session
//! sooner than the course interval, or more sessions than planned are recorded with warnings.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{DbConnection, from_db, new_id, to_db},
    domain::clinical::{
        Area, DeviceKind, NeedleDepthMm, ScreeningGate, ScreeningOutcome, SessionStatus, screening_allows, too_soon,
    },
    error::{ApiError, ApiResult, ErrorCode},
    repo::{
        accounts, audit as audit_repo,
        courses::Course,
        patients::Patient,
        screenings,
        sessions::{self, Session, SessionArea, SessionChanges, SessionsOf},
    },
    security::caller::AuthUser,
    services::validation::{Checks, double_option, text},
    services::{
        access,
        audit::{self, Action},
        reminders,
        webhooks::{self, EventType},
    },
    state::AppState,
    wire::pagination::{Page, SyncParams, fetch_limit},
};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceDto {
    pub kind: DeviceKind,
    #[schema(example = "SkinPen Precision", min_length = 1, max_length = 100, pattern = r"\S")]
    pub model: String,
    /// Cartridge or roller lot, for traceability.
    #[schema(min_length = 1, max_length = 64, pattern = r"\S")]
    pub cartridge_lot: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaDto {
    pub area: Area,
    /// 0.25–3.0 mm.
    #[schema(minimum = 0.25, maximum = 3.0, example = 1.0)]
    pub depth_mm: f64,
    /// 1–20.
    #[schema(minimum = 1, maximum = 20)]
    pub passes: i32,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImmediateResponse {
    /// 0 none – 4 severe.
    #[schema(minimum = 0, maximum = 4)]
    pub erythema_grade: Option<u8>,
    /// The usual end point.
    pub pinpoint_bleeding: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    pub performed_at: DateTime<Utc>,
    /// A staff account of the clinic; defaults to the caller.
    pub clinician_id: Option<String>,
    pub device: DeviceDto,
    /// One to 20.
    #[schema(min_items = 1, max_items = 20)]
    pub areas: Vec<AreaDto>,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub numbing: Option<String>,
    /// What was applied in the clinic.
    #[serde(default)]
    pub products_applied: Vec<String>,
    pub immediate_response: Option<ImmediateResponse>,
    /// Clinician-only notes (never shown to the patient).
    #[schema(min_length = 1, max_length = 10000, pattern = r"\S")]
    pub notes: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSession {
    pub performed_at: Option<DateTime<Utc>>,
    pub device: Option<DeviceDto>,
    #[schema(min_items = 1, max_items = 20)]
    pub areas: Option<Vec<AreaDto>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 200, pattern = r"\S")]
    pub numbing: Option<Option<String>>,
    pub products_applied: Option<Vec<String>>,
    pub immediate_response: Option<ImmediateResponse>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 10000, pattern = r"\S")]
    pub notes: Option<Option<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSession {
    #[schema(min_length = 1, max_length = 2000, pattern = r"\S")]
    pub reason: String,
}

/// Something unusual that did not stop the session from being recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(as = SessionWarning)]
pub struct Warning {
    /// `depth_outside_usual_range`, `too_soon`, `beyond_planned_sessions`, `pih_risk`.
    pub code: String,
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: String,
    pub course_id: String,
    pub patient_id: String,
    pub performed_at: DateTime<Utc>,
    pub clinician_id: String,
    pub device: DeviceDto,
    pub areas: Vec<AreaDto>,
    pub numbing: Option<String>,
    pub products_applied: Vec<String>,
    pub immediate_response: ImmediateResponse,
    pub status: SessionStatus,
    pub cancel_reason: Option<String>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Warning>>,
    /// Staff only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub screening_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

use crate::domain::wire_name as enum_name;

/// A stored enum back, or a 500 (the database only holds names we wrote).
fn enum_parse<T: serde::de::DeserializeOwned>(s: &str) -> ApiResult<T> {
    crate::domain::from_wire(s).ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown stored value `{s}`")))
}

pub fn view(s: Session, areas: &[SessionArea], staff: bool) -> ApiResult<SessionView> {
    let areas = areas
        .iter()
        .filter(|a| a.session_id == s.id)
        .map(|a| Ok(AreaDto { area: enum_parse(&a.area)?, depth_mm: a.depth_mm, passes: a.passes }))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(SessionView {
        device: DeviceDto { kind: enum_parse(&s.device_kind)?, model: s.device_model, cartridge_lot: s.cartridge_lot },
        areas,
        products_applied: serde_json::from_str(&s.products_applied).map_err(ApiError::internal)?,
        immediate_response: ImmediateResponse {
            erythema_grade: s.erythema_grade.and_then(|g| u8::try_from(g).ok()),
            pinpoint_bleeding: s.pinpoint_bleeding,
        },
        status: enum_parse(&s.status)?,
        cancelled_at: s.cancelled_at.map(from_db),
        notes: if staff { s.notes } else { None },
        warnings: if staff { Some(serde_json::from_str(&s.warnings).map_err(ApiError::internal)?) } else { None },
        screening_id: staff.then_some(s.screening_id),
        performed_at: from_db(s.performed_at),
        created_at: from_db(s.created_at),
        updated_at: from_db(s.updated_at),
        id: s.id,
        course_id: s.course_id,
        patient_id: s.patient_id,
        clinician_id: s.clinician_id,
        numbing: s.numbing,
        cancel_reason: s.cancel_reason,
    })
}

/// Checks areas: device-range depths are errors, unusual depths warnings.
fn check_areas(c: &mut Checks, areas: &[AreaDto], warnings: &mut Vec<Warning>) -> Vec<(Area, f64, i32)> {
    if areas.is_empty() {
        c.fail("areas", "must list at least one treated area");
    }
    if areas.len() > 20 {
        c.fail("areas", "at most 20 areas");
    }
    let mut out = Vec::new();
    for (i, a) in areas.iter().enumerate() {
        let depth = c.check(&format!("areas[{i}].depth_mm"), NeedleDepthMm::parse(a.depth_mm));
        let passes = c.check(
            &format!("areas[{i}].passes"),
            if (1..=20).contains(&a.passes) { Ok(a.passes) } else { Err("must be between 1 and 20".into()) },
        );
        if let (Some(depth), Some(passes)) = (depth, passes) {
            if let Some(message) = depth.warning_for(a.area) {
                warnings.push(Warning {
                    code: "depth_outside_usual_range".into(),
                    field: Some(format!("areas[{i}].depth_mm")),
                    message,
                });
            }
            out.push((a.area, depth.mm(), passes));
        }
    }
    out
}

fn check_device(c: &mut Checks, d: &DeviceDto) -> (Option<String>, Option<String>) {
    let model = c.check("device.model", text(&d.model, 100));
    let lot = d.cartridge_lot.as_deref().and_then(|l| c.check("device.cartridge_lot", text(l, 64)));
    (model, lot)
}

fn check_products(c: &mut Checks, products: &[String]) -> Option<String> {
    if products.len() > 20 {
        c.fail("products_applied", "at most 20 products");
    }
    let cleaned: Vec<String> = products
        .iter()
        .enumerate()
        .filter_map(|(i, p)| c.check(&format!("products_applied[{i}]"), text(p, 100)))
        .collect();
    serde_json::to_string(&cleaned).ok()
}

fn check_erythema(c: &mut Checks, r: &ImmediateResponse) -> Option<i32> {
    r.erythema_grade.and_then(|g| {
        c.check(
            "immediate_response.erythema_grade",
            if g <= 4 { Ok(i32::from(g)) } else { Err("must be 0 to 4".into()) },
        )
    })
}

fn check_performed_at(c: &mut Checks, at: DateTime<Utc>, now: DateTime<Utc>) {
    if at > now + Duration::hours(24) {
        c.fail("performed_at", "must not be more than 24 hours in the future");
    }
}

/// Warnings that depend on the course and patient: too soon, beyond plan, PIH risk.
fn course_warnings(course: &Course, patient: &Patient, others: &[Session], at: DateTime<Utc>) -> Vec<Warning> {
    let done: Vec<&Session> = others.iter().filter(|s| s.status == "completed").collect();
    let previous = done.iter().map(|s| from_db(s.performed_at)).filter(|t| *t <= at).max();
    let mut w = Vec::new();
    if too_soon(previous, at, course.interval_days) {
        w.push(Warning {
            code: "too_soon".into(),
            field: Some("performed_at".into()),
            message: format!(
                "sooner than the course interval of {} days after the previous session",
                course.interval_days
            ),
        });
    }
    if i64::try_from(done.len()).unwrap_or(i64::MAX) >= i64::from(course.planned_sessions) {
        w.push(Warning {
            code: "beyond_planned_sessions".into(),
            field: None,
            message: format!("the course planned {} sessions", course.planned_sessions),
        });
    }
    if patient.fitzpatrick.is_some_and(|f| f >= 4) {
        w.push(Warning {
            code: "pih_risk".into(),
            field: None,
            message: "Fitzpatrick IV–VI: higher risk of post-inflammatory hyperpigmentation".into(),
        });
    }
    w
}

/// The screening that allows a session at `at`, or the 409 that explains why not.
fn gate(
    conn: &mut DbConnection,
    patient_id: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
    valid_days: i64,
) -> ApiResult<String> {
    let latest = screenings::find_latest_before(conn, patient_id, to_db(now.max(at)))?;
    let summary = match &latest {
        Some(s) => {
            Some((enum_parse::<ScreeningOutcome>(&s.outcome)?, from_db(s.created_at), s.overridden_at.is_some()))
        }
        None => None,
    };
    match screening_allows(summary, at, valid_days) {
        Ok(()) => latest.map(|s| s.id).ok_or_else(|| ApiError::code(ErrorCode::ScreeningRequired)),
        Err(ScreeningGate::Contraindicated) => Err(ApiError::code(ErrorCode::ScreeningContraindicated)),
        Err(ScreeningGate::Required(why)) => Err(ApiError::new(ErrorCode::ScreeningRequired, why)),
    }
}

pub async fn create(state: &AppState, user: &AuthUser, course_id: &str, body: CreateSession) -> ApiResult<SessionView> {
    user.require_staff()?;
    let now = state.now();
    let mut c = Checks::default();
    let mut warnings = Vec::new();
    check_performed_at(&mut c, body.performed_at, now);
    let areas = check_areas(&mut c, &body.areas, &mut warnings);
    let (model, lot) = check_device(&mut c, &body.device);
    let numbing = body.numbing.as_deref().and_then(|n| c.check("numbing", text(n, 200)));
    let products = check_products(&mut c, &body.products_applied);
    let response = body.immediate_response.clone().unwrap_or_default();
    let erythema = check_erythema(&mut c, &response);
    let notes = body.notes.as_deref().and_then(|n| c.check("notes", text(n, 10_000)));
    c.finish()?;
    let (Some(model), Some(products)) = (model, products) else {
        return Err(ApiError::internal(anyhow::anyhow!("checked fields missing")));
    };

    let (u, course_id) = (user.clone(), course_id.to_owned());
    let valid_days = state.settings.clinical.screening_valid_days;
    let performed_at = body.performed_at;
    let clinician_id = body.clinician_id.clone().unwrap_or_else(|| user.account_id.clone());
    let device_kind = enum_name(body.device.kind);
    let (session, rows) = state
        .db
        .write(move |c| -> ApiResult<(Session, Vec<SessionArea>)> {
            let (course, patient) = access::course(c, &u, &course_id)?.ok_or_else(ApiError::not_found)?;
            if patient.archived_at.is_some() {
                return Err(ApiError::code(ErrorCode::PatientArchived));
            }
            if course.status != "active" {
                return Err(ApiError::code(ErrorCode::CourseNotActive));
            }
            let clinician = accounts::find_account(c, &clinician_id)?;
            if !clinician.is_some_and(|a| a.clinic_id == u.clinic_id && a.role != "patient") {
                return Err(ApiError::invalid("clinician_id", "is not a staff member of this clinic"));
            }
            let screening_id = gate(c, &patient.id, performed_at, now, valid_days)?;
            let others = sessions::find_for_course(c, &course.id)?;
            warnings.extend(course_warnings(&course, &patient, &others, performed_at));
            let session = Session {
                id: new_id(),
                clinic_id: patient.clinic_id.clone(),
                patient_id: patient.id.clone(),
                course_id: course.id.clone(),
                screening_id,
                performed_at: to_db(performed_at),
                clinician_id,
                device_kind,
                device_model: model,
                cartridge_lot: lot,
                numbing,
                products_applied: products,
                erythema_grade: erythema,
                pinpoint_bleeding: response.pinpoint_bleeding,
                notes,
                warnings: serde_json::to_string(&warnings).map_err(ApiError::internal)?,
                status: "completed".into(),
                cancel_reason: None,
                cancelled_at: None,
                created_at: to_db(now),
                updated_at: to_db(now),
            };
            let rows = area_rows(&session.id, &areas);
            sessions::insert_session(c, &session, &rows)?;
            reminders::plan_session(c, &session, &patient, now)?;
            let data = serde_json::json!({
                "session_id": session.id,
                "patient_id": session.patient_id,
                "course_id": session.course_id,
                "clinician_id": session.clinician_id,
                "performed_at": performed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "areas": rows.iter().map(|a| serde_json::json!({"area": a.area, "depth_mm": a.depth_mm})).collect::<Vec<_>>(),
            });
            webhooks::enqueue(c, &session.clinic_id, EventType::SessionCreated, Some(&session.patient_id), data, now)?;
            let event = audit::event(&u, Action::Create, "session", Some(&session.id), Some(&patient.id), now);
            audit_repo::insert_events(c, &[event])?;
            Ok((session, rows))
        })
        .await?;
    view(session, &rows, true)
}

fn area_rows(session_id: &str, areas: &[(Area, f64, i32)]) -> Vec<SessionArea> {
    areas
        .iter()
        .enumerate()
        .map(|(i, (area, depth, passes))| SessionArea {
            id: new_id(),
            session_id: session_id.to_owned(),
            position: i32::try_from(i).unwrap_or(i32::MAX),
            area: enum_name(area),
            depth_mm: *depth,
            passes: *passes,
        })
        .collect()
}

pub async fn list_for_course(
    state: &AppState,
    user: &AuthUser,
    course_id: &str,
    q: &SyncParams,
) -> ApiResult<Page<SessionView>> {
    let (limit, after) = q.page().resolve_keyed()?;
    let (u, id, since) = (user.clone(), course_id.to_owned(), q.since()?);
    let (course, rows, areas) = state
        .db
        .run(move |c| {
            let Some((course, _)) = access::course(c, &u, &id)? else { return Ok(None) };
            let rows = sessions::page(c, SessionsOf::Course(&course.id), since, after.as_ref(), fetch_limit(limit))?;
            let ids: Vec<String> = rows.iter().map(|s| s.id.clone()).collect();
            let areas = sessions::find_areas(c, &ids)?;
            Ok(Some((course, rows, areas)))
        })
        .await?
        .ok_or_else(ApiError::not_found)?;
    state.audit.record(audit::event(user, Action::List, "session", None, Some(&course.patient_id), state.now())).await;
    page_of(rows, limit, &areas, user.role.is_staff())
}

pub async fn list_for_patient(
    state: &AppState,
    user: &AuthUser,
    patient: &Patient,
    q: &SyncParams,
) -> ApiResult<Page<SessionView>> {
    let (limit, after) = q.page().resolve_keyed()?;
    let (id, since) = (patient.id.clone(), q.since()?);
    let (rows, areas) = state
        .db
        .run(move |c| {
            let rows = sessions::page(c, SessionsOf::Patient(&id), since, after.as_ref(), fetch_limit(limit))?;
            let ids: Vec<String> = rows.iter().map(|s| s.id.clone()).collect();
            Ok((rows, sessions::find_areas(c, &ids)?))
        })
        .await?;
    state.audit.record(audit::event(user, Action::List, "session", None, Some(&patient.id), state.now())).await;
    page_of(rows, limit, &areas, user.role.is_staff())
}

/// A page of session views from rows fetched with one more than `limit`.
fn page_of(rows: Vec<Session>, limit: i64, areas: &[SessionArea], staff: bool) -> ApiResult<Page<SessionView>> {
    let page = Page::from_keyed_rows(rows, limit, |s| (s.performed_at, s.id.as_str()), |s| view(s, areas, staff));
    let items = page.items.into_iter().collect::<ApiResult<Vec<_>>>()?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

pub async fn read(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<SessionView> {
    let (u, id) = (user.clone(), id.to_owned());
    let (session, areas) = state
        .db
        .run(move |c| {
            let Some((session, _)) = access::session(c, &u, &id)? else { return Ok(None) };
            let areas = sessions::find_areas(c, std::slice::from_ref(&session.id))?;
            Ok(Some((session, areas)))
        })
        .await?
        .ok_or_else(ApiError::not_found)?;
    let event = audit::event(user, Action::Read, "session", Some(&session.id), Some(&session.patient_id), state.now());
    state.audit.record(event).await;
    view(session, &areas, user.role.is_staff())
}

pub async fn update(state: &AppState, user: &AuthUser, id: &str, body: UpdateSession) -> ApiResult<SessionView> {
    user.require_staff()?;
    let now = state.now();
    let mut c = Checks::default();
    let mut warnings = Vec::new();
    let mut changes = SessionChanges { updated_at: Some(to_db(now)), ..Default::default() };
    if let Some(at) = body.performed_at {
        check_performed_at(&mut c, at, now);
        changes.performed_at = Some(to_db(at));
    }
    let areas = body.areas.as_deref().map(|a| check_areas(&mut c, a, &mut warnings));
    if let Some(d) = &body.device {
        let (model, lot) = check_device(&mut c, d);
        changes.device_kind = Some(enum_name(d.kind));
        changes.device_model = model;
        changes.cartridge_lot = Some(lot);
    }
    changes.numbing = match &body.numbing {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) => c.check("numbing", text(n, 200)).map(Some),
    };
    changes.products_applied = body.products_applied.as_deref().and_then(|p| check_products(&mut c, p));
    if let Some(r) = &body.immediate_response {
        changes.erythema_grade = Some(check_erythema(&mut c, r));
        changes.pinpoint_bleeding = Some(r.pinpoint_bleeding);
    }
    changes.notes = match &body.notes {
        None => None,
        Some(None) => Some(None),
        Some(Some(n)) => c.check("notes", text(n, 10_000)).map(Some),
    };
    c.finish()?;
    let (u, id) = (user.clone(), id.to_owned());
    let valid_days = state.settings.clinical.screening_valid_days;
    let (session, rows) = state
        .db
        .write(move |c| -> ApiResult<(Session, Vec<SessionArea>)> {
            let (current, patient) = access::session(c, &u, &id)?.ok_or_else(ApiError::not_found)?;
            if current.status == "cancelled" {
                return Err(ApiError::code(ErrorCode::SessionCancelled));
            }
            let at = changes.performed_at.map(from_db).unwrap_or_else(|| from_db(current.performed_at));
            if changes.performed_at.is_some() {
                gate(c, &patient.id, at, now, valid_days)?;
            }
            let course = crate::repo::courses::find_course(c, &current.course_id)?.ok_or_else(ApiError::not_found)?;
            let others: Vec<Session> =
                sessions::find_for_course(c, &course.id)?.into_iter().filter(|s| s.id != current.id).collect();
            let mut all = match &areas {
                Some(_) => warnings,
                None => serde_json::from_str::<Vec<Warning>>(&current.warnings)
                    .map_err(ApiError::internal)?
                    .into_iter()
                    .filter(|w| w.code == "depth_outside_usual_range")
                    .collect(),
            };
            all.extend(course_warnings(&course, &patient, &others, at));
            changes.warnings = Some(serde_json::to_string(&all).map_err(ApiError::internal)?);
            let updated = sessions::update_session(c, &current.id, &changes)?;
            if let Some(areas) = &areas {
                sessions::replace_areas(c, &current.id, &area_rows(&current.id, areas))?;
            }
            if changes.performed_at.is_some() {
                reminders::plan_session(c, &updated, &patient, now)?;
            }
            let event = audit::event(&u, Action::Update, "session", Some(&current.id), Some(&patient.id), now);
            audit_repo::insert_events(c, &[event])?;
            let rows = sessions::find_areas(c, std::slice::from_ref(&current.id))?;
            Ok((updated, rows))
        })
        .await?;
    view(session, &rows, true)
}

pub async fn cancel(state: &AppState, user: &AuthUser, id: &str, body: CancelSession) -> ApiResult<SessionView> {
    user.require_staff()?;
    let mut c = Checks::default();
    let reason = c.check("reason", text(&body.reason, 2_000));
    c.finish()?;
    let now = state.now();
    let (u, id) = (user.clone(), id.to_owned());
    let (session, rows) = state
        .db
        .write(move |c| -> ApiResult<(Session, Vec<SessionArea>)> {
            let (current, patient) = access::session(c, &u, &id)?.ok_or_else(ApiError::not_found)?;
            if current.status == "cancelled" {
                return Err(ApiError::code(ErrorCode::SessionCancelled));
            }
            let changes = SessionChanges {
                status: Some("cancelled".into()),
                cancel_reason: Some(reason),
                cancelled_at: Some(Some(to_db(now))),
                updated_at: Some(to_db(now)),
                ..Default::default()
            };
            let updated = sessions::update_session(c, &current.id, &changes)?;
            reminders::cancel_session(c, &current.id, "session_cancelled", now)?;
            let event = audit::event(&u, Action::Cancel, "session", Some(&current.id), Some(&patient.id), now);
            audit_repo::insert_events(c, &[event])?;
            let rows = sessions::find_areas(c, std::slice::from_ref(&current.id))?;
            Ok((updated, rows))
        })
        .await?;
    view(session, &rows, true)
}
