//! The OpenAPI 3.1 document, generated from the handlers' annotations. Error responses every
//! operation can give (bad body, missing token, …) are added here once rather than on each path.
//! `openapi/openapi.json` is this document; a test fails when they drift.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self, Components, ContentBuilder, Ref, RefOr, ResponseBuilder,
        extensions::Extensions,
        link::LinkBuilder,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_swagger_ui::SwaggerUi;

use crate::{error, http, services};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Aftercare API",
        description = "Backend for microneedling clinics and their patients' app: courses, sessions, aftercare reminders, check-ins, photos and progress scores.\n\nErrors are RFC 9457 `application/problem+json` with a stable `code`.",
        license(name = "MIT", identifier = "MIT"),
    ),
    servers((url = "/", description = "The server this document is served by")),
    paths(
        http::ops::get_healthz,
        http::ops::get_readyz,
        http::ops::get_metrics,
        http::auth::login,
        http::auth::refresh,
        http::auth::logout,
        http::auth::accept_invitation,
        http::auth::request_password_reset,
        http::auth::confirm_password_reset,
        http::me::get_me,
        http::me::change_my_password,
        http::me::delete_me,
        http::staff::list_staff,
        http::staff::update_staff_member,
        http::staff::create_staff_invitation,
        http::invitations::list_invitations,
        http::invitations::revoke_invitation,
        http::me::get_profile,
        http::me::update_profile,
        http::me::get_my_consents,
        http::me::change_my_consent,
        http::me::list_my_courses,
        http::me::list_my_sessions,
        http::patients::create_patient,
        http::patients::list_patients,
        http::patients::get_patient,
        http::patients::update_patient,
        http::patients::archive_patient,
        http::patients::resend_patient_invitation,
        http::patients::list_patient_consents,
        http::patients::create_patient_consent,
        http::courses::create_course,
        http::courses::list_patient_courses,
        http::sessions::list_patient_sessions,
        http::screenings::create_screening,
        http::screenings::list_screenings,
        http::courses::get_course,
        http::courses::update_course,
        http::sessions::create_session,
        http::sessions::list_course_sessions,
        http::sessions::get_session,
        http::sessions::update_session,
        http::sessions::cancel_session,
        http::screenings::override_screening,
        http::audit::list_audit_events,
        http::devices::register_my_device,
        http::devices::list_my_devices,
        http::devices::delete_my_device,
        http::reminders::list_my_reminders,
        http::reminders::snooze_reminder,
        http::reminders::complete_reminder,
        http::checkins::create_my_checkin,
        http::checkins::list_my_checkins,
        http::checkins::create_my_serum_application,
        http::checkins::list_my_serum_applications,
        http::reminders::list_patient_reminders,
        http::checkins::list_patient_checkins,
        http::checkins::list_patient_serum_applications,
        http::checkins::get_session_adherence,
        http::alerts::list_alerts,
        http::alerts::resolve_alert,
        http::protocols::get_protocols,
        http::protocols::replace_protocol,
        http::protocols::get_clinic,
        http::protocols::update_clinic,
        http::unsubscribe::unsubscribe,
        http::unsubscribe::unsubscribe_page,
        http::unsubscribe::resubscribe,
        http::photos::upload_patient_photo,
        http::photos::upload_my_photo,
        http::photos::list_patient_photos,
        http::photos::list_my_photos,
        http::photos::get_photo_image,
        http::photos::delete_photo,
        http::scores::list_scales,
        http::scores::create_patient_score,
        http::scores::create_my_score,
        http::scores::list_patient_scores,
        http::scores::get_patient_progress,
        http::scores::get_my_progress,
        http::scores::get_my_progress_chart_svg,
        http::scores::get_progress_chart_svg,
        http::scores::get_progress_chart_png,
        http::interop::get_fhir_metadata,
        http::interop::get_checkin_questionnaire,
        http::interop::get_patient_fhir,
        http::interop::get_my_fhir,
        http::calendar::create_calendar_feed,
        http::calendar::get_calendar_feed,
        http::calendar::delete_calendar_feed,
        http::calendar::get_calendar,
        http::records::get_my_export,
        http::records::erase_patient,
        http::webhooks::create_webhook,
        http::webhooks::list_webhooks,
        http::webhooks::get_webhook,
        http::webhooks::update_webhook,
        http::webhooks::delete_webhook,
        http::webhooks::rotate_webhook_secret,
        http::webhooks::list_webhook_deliveries,
        http::webhooks::resend_webhook_delivery,
    ),
    components(schemas(error::Problem, error::FieldError, error::ErrorCode, services::auth::TokenResponse)),
    modifiers(&CommonResponses, &Links, &ScaleCodes, &Contract),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "auth", description = "Login, tokens, invitations and password reset"),
        (name = "me", description = "The authenticated caller"),
        (name = "staff", description = "Clinic staff (admins)"),
        (name = "patients", description = "Patients (staff)"),
        (name = "consents", description = "Consents, append-only"),
        (name = "courses", description = "Treatment courses"),
        (name = "sessions", description = "Treatment sessions"),
        (name = "screenings", description = "Pre-treatment screening"),
        (name = "audit", description = "Audit trail (admins)"),
        (name = "aftercare", description = "Reminders, check-ins and serum logs (staff view)"),
        (name = "alerts", description = "Alerts for clinicians"),
        (name = "protocols", description = "Aftercare protocols (versioned)"),
        (name = "clinic", description = "Clinic settings"),
        (name = "email", description = "Links in emails (no login)"),
        (name = "photos", description = "Progress photos"),
        (name = "scores", description = "Validated scales, scores and progress"),
        (name = "interop", description = "FHIR R4 export"),
        (name = "webhooks", description = "Signed event deliveries to clinic systems (admins)"),
    )
)]
pub struct ApiDoc;

/// Adds the bearer scheme and the problem responses shared by many operations.
struct CommonResponses;

fn problem(description: &str) -> RefOr<openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
            )
            .build(),
    )
}

fn idempotency_header() -> openapi::path::Parameter {
    openapi::path::ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(openapi::path::ParameterIn::Header)
        .required(openapi::Required::False)
        .description(Some(
            "Retry-safe POST: the same key and body replay the stored response (header `Idempotency-Replayed: true`) for 24 h. Keys are per account; requests without a valid access token are not stored. An answer holding a secret shown once (calendar URL, webhook secret) is not replayed: 409 `idempotency_secret_withheld`.",
        ))
        .schema(Some(openapi::ObjectBuilder::new().schema_type(openapi::Type::String).min_length(Some(1)).max_length(Some(255)).pattern(Some("^[!-~]{1,255}$"))))
        .build()
}

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme(
            "metrics_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The value of `AFTERCARE__METRICS__TOKEN`"))
                    .build(),
            ),
        );
        for (path, item) in doc.paths.paths.iter_mut() {
            if let Some(post) =
                item.post.as_mut().filter(|_| path.starts_with("/api/v1/") && !path.starts_with("/api/v1/auth/"))
            {
                post.parameters.get_or_insert_with(Vec::new).push(idempotency_header());
                post.responses.responses.entry("409".to_owned()).or_insert_with(|| {
                    problem("Conflict with the current state, or the same Idempotency-Key is still running")
                });
                post.responses.responses.entry("422".to_owned()).or_insert_with(|| {
                    problem("Invalid fields, or the Idempotency-Key was used with a different body")
                });
            }
            for write in [&mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten() {
                write.responses.responses.entry("409".to_owned()).or_insert_with(|| {
                    problem("Conflict with the current state (e.g. a concurrent change got there first)")
                });
            }
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses.entry(status.to_owned()).or_insert_with(|| problem(description));
                };
                if op.request_body.is_some() {
                    add("400", "The body is not valid JSON");
                    add("413", "The body is too large");
                    add("415", "The body is not application/json");
                    add("422", "The body has invalid or unknown fields");
                }
                if path.contains('{') || op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add("400", "A path or query parameter is malformed");
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "Missing, invalid or expired access token");
                }
                if path.starts_with("/api/") {
                    add("503", "The database is unavailable or the server is busy");
                }
                // Every route is behind the NUL guard: even one without parameters refuses a
                // query string holding a NUL character.
                if !responses.keys().any(|status| status.starts_with('4')) {
                    responses
                        .entry("400".to_owned())
                        .or_insert_with(|| problem("`invalid_query`: the query string holds a NUL character (%00)"));
                }
            }
        }
    }
}

/// What a created resource's `id` leads to: (creating operation, its status, operations that take
/// the id as their `{id}`). Written into the document as OpenAPI links, which generated clients
/// and schemathesis's stateful phase follow (create a patient, then read, change, archive it, …).
const LINKS: &[(&str, &str, &[&str])] = &[
    (
        "create_patient",
        "201",
        &[
            "get_patient",
            "update_patient",
            "erase_patient",
            "archive_patient",
            "resend_patient_invitation",
            "create_course",
            "list_patient_courses",
            "list_patient_sessions",
            "create_screening",
            "list_screenings",
            "create_patient_consent",
            "list_patient_consents",
            "create_patient_score",
            "list_patient_scores",
            "upload_patient_photo",
            "list_patient_photos",
            "list_patient_checkins",
            "list_patient_serum_applications",
            "list_patient_reminders",
            "get_patient_progress",
            "get_patient_fhir",
        ],
    ),
    ("create_course", "201", &["get_course", "update_course", "create_session", "list_course_sessions"]),
    ("create_session", "201", &["get_session", "update_session", "get_session_adherence", "cancel_session"]),
    ("create_screening", "201", &["override_screening"]),
    ("upload_patient_photo", "201", &["get_photo_image", "delete_photo"]),
    ("upload_my_photo", "201", &["get_photo_image", "delete_photo"]),
    (
        "create_webhook",
        "201",
        &["get_webhook", "update_webhook", "delete_webhook", "list_webhook_deliveries", "rotate_webhook_secret"],
    ),
];

/// Adds [`LINKS`] to the creating operations' responses.
struct Links;

impl Modify for Links {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                let Some(&(_, status, targets)) =
                    LINKS.iter().find(|(source, _, _)| op.operation_id.as_deref() == Some(*source))
                else {
                    continue;
                };
                let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) else { continue };
                for target in targets {
                    // utoipa 5.5 writes `Link::operation_id` as `operation_id`, not the
                    // specification's `operationId`; written as an extension, the key is kept.
                    let link = LinkBuilder::new()
                        .extensions(Some(Extensions::from_iter([("operationId", *target)])))
                        .parameter("id", "$response.body#/id")
                        .description(format!("The created resource's `id` as the `id` of `{target}`"))
                        .build();
                    response.links.insert((*target).to_owned(), RefOr::T(link));
                }
            }
        }
    }
}

/// `CreateScore.scale` lists the scales this build knows (`GET /api/v1/scales` describes them).
struct ScaleCodes;

impl Modify for ScaleCodes {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let schemas = doc.components.as_mut().map(|c| &mut c.schemas);
        let Some(RefOr::T(openapi::Schema::Object(score))) = schemas.and_then(|s| s.get_mut("CreateScore")) else {
            return;
        };
        let Some(RefOr::T(openapi::Schema::Object(scale))) = score.properties.get_mut("scale") else { return };
        let mut codes: Vec<serde_json::Value> = Vec::new();
        for def in crate::domain::scales::builtin() {
            let code = serde_json::Value::from(def.code);
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        scale.enum_values = Some(codes);
    }
}

/// What generated clients need beyond the derives: public operations say so (`security: []`),
/// binary bodies are typed as binary (not as an array of integers, or untyped), and a page's
/// items refer to their view's schema instead of repeating it inline.
struct Contract;

impl Modify for Contract {
    fn modify(&self, doc: &mut openapi::OpenApi) {
        let schema_names: Vec<String> =
            doc.components.as_ref().map(|c| c.schemas.keys().cloned().collect()).unwrap_or_default();
        for item in doc.paths.paths.values_mut() {
            let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
            for op in ops.into_iter().flatten() {
                op.security.get_or_insert_with(Vec::new);
                for response in op.responses.responses.values_mut() {
                    let RefOr::T(response) = response else { continue };
                    for (media_type, content) in response.content.iter_mut() {
                        if media_type.contains("json") {
                            continue;
                        }
                        let text = media_type.starts_with("text/") || media_type.starts_with("image/svg");
                        let mut string = openapi::ObjectBuilder::new().schema_type(openapi::Type::String);
                        if !text {
                            string =
                                string.format(Some(openapi::SchemaFormat::KnownFormat(openapi::KnownFormat::Binary)));
                        }
                        content.schema = Some(RefOr::T(openapi::Schema::Object(string.build())));
                    }
                }
            }
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            if let Some(get) = item.get.as_mut().filter(|_| path.starts_with("/api/v1/")) {
                let tagged = get.responses.responses.get_mut("200").and_then(|r| match r {
                    RefOr::T(r) => Some(r),
                    RefOr::Ref(_) => None,
                });
                if let Some(ok) = tagged {
                    ok.headers.entry("ETag".to_owned()).or_insert_with(|| {
                        openapi::HeaderBuilder::new()
                            .schema(openapi::ObjectBuilder::new().schema_type(openapi::Type::String))
                            .description(Some("The representation's validator: send it back in `If-None-Match`"))
                            .build()
                    });
                    get.parameters.get_or_insert_with(Vec::new).push(
                        openapi::path::ParameterBuilder::new()
                            .name("If-None-Match")
                            .parameter_in(openapi::path::ParameterIn::Header)
                            .required(openapi::Required::False)
                            .description(Some(
                                "An `ETag` from an earlier answer: 304 without a body while it still holds",
                            ))
                            .schema(Some(openapi::ObjectBuilder::new().schema_type(openapi::Type::String)))
                            .build(),
                    );
                    get.responses.responses.entry("304".to_owned()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description("Not modified: the `If-None-Match` tag still holds")
                                .build(),
                        )
                    });
                }
            }
            let ops = [&mut item.post, &mut item.put];
            for op in ops.into_iter().flatten() {
                let Some(&(_, names)) =
                    super::representation::LOCATIONS.iter().find(|(id, _)| op.operation_id.as_deref() == Some(*id))
                else {
                    continue;
                };
                if let Some(RefOr::T(created)) = op.responses.responses.get_mut("201") {
                    created.headers.insert(
                        "Location".to_owned(),
                        openapi::HeaderBuilder::new()
                            .schema(openapi::ObjectBuilder::new().schema_type(openapi::Type::String))
                            .description(Some(names))
                            .build(),
                    );
                }
            }
        }
        let Some(components) = doc.components.as_mut() else { return };
        for (name, schema) in components.schemas.iter_mut() {
            let Some(view) = name.strip_prefix("Page_") else { continue };
            if !schema_names.iter().any(|n| n == view) {
                continue;
            }
            let RefOr::T(openapi::Schema::Object(page)) = schema else { continue };
            if let Some(RefOr::T(openapi::Schema::Array(items))) = page.properties.get_mut("items") {
                items.items =
                    openapi::schema::ArrayItems::RefOrSchema(Box::new(RefOr::Ref(Ref::from_schema_name(view))));
            }
        }
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// The document as committed in `openapi/openapi.json`.
pub fn document_json() -> String {
    let mut json = document().to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}

/// The OpenAPI document.
pub async fn get_openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(document_json())
}

/// Swagger UI at `/docs/`, its assets compiled in (renders offline).
pub fn swagger_ui() -> SwaggerUi {
    SwaggerUi::new("/docs/{_:.*}").url("/docs/openapi.json", document().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every link names a creating operation and status that exist, and targets that take an `{id}`.
    #[test]
    fn links_join_operations_that_exist() {
        let doc = document();
        let ops: Vec<(&str, &openapi::path::Operation)> = doc
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                    .into_iter()
                    .flatten()
                    .map(move |op| (path.as_str(), op))
            })
            .collect();
        let find = |id: &str| ops.iter().find(|(_, op)| op.operation_id.as_deref() == Some(id));
        for (source, status, targets) in LINKS {
            let (_, op) = find(source).unwrap_or_else(|| panic!("no operation {source}"));
            let Some(RefOr::T(response)) = op.responses.responses.get(*status) else {
                panic!("{source} has no {status} response");
            };
            for target in *targets {
                let (path, _) = find(target).unwrap_or_else(|| panic!("no operation {target}"));
                assert!(path.contains("{id}"), "{target} ({path}) takes no id");
                assert!(response.links.contains_key(*target), "{source} → {target} missing");
            }
            assert_eq!(response.links.len(), targets.len(), "{source}");
        }
        let json: serde_json::Value = serde_json::from_str(&document_json()).expect("the document is JSON");
        let link = &json["paths"]["/api/v1/patients/{id}/courses"]["post"]["responses"]["201"]["links"]["get_course"];
        assert_eq!(link["operationId"], "get_course", "{link}");
        assert_eq!(link["parameters"]["id"], "$response.body#/id", "{link}");
        assert!(link.get("operation_id").is_none(), "{link}");
    }

    #[test]
    fn a_score_names_one_of_the_built_in_scales() {
        let json: serde_json::Value = serde_json::from_str(&document_json()).expect("the document is JSON");
        let listed = json["components"]["schemas"]["CreateScore"]["properties"]["scale"]["enum"].clone();
        let mut codes: Vec<String> = crate::domain::scales::builtin().into_iter().map(|d| d.code).collect();
        codes.sort();
        codes.dedup();
        let mut listed: Vec<String> = serde_json::from_value(listed).expect("a list of codes");
        let before = listed.len();
        listed.sort();
        listed.dedup();
        assert_eq!(listed.len(), before, "each code once");
        assert_eq!(listed, codes);
        assert!(listed.iter().any(|c| c == "gais"));
    }
}
