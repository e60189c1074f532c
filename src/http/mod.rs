//! The HTTP edge: the route table (all in one place), thin handlers per resource, extractors,
//! middleware and the OpenAPI document (metrics are kept in `telemetry::metrics`).

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod body_deadline;
pub mod calendar;
pub mod checkins;
pub mod courses;
pub mod devices;
pub mod extract;
pub mod idempotency;
pub mod interop;
pub mod invitations;
pub mod me;
pub mod middleware;
pub mod nul_guard;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod patients;
pub mod photos;
pub mod protocols;
pub mod records;
pub mod reminders;
pub mod representation;
pub mod scores;
pub mod screenings;
pub mod security_headers;
pub mod sessions;
pub mod staff;
pub mod strict_json;
pub mod unsubscribe;
pub mod webhooks;

use actix_web::{HttpResponse, web};

use crate::error::{ApiError, ErrorCode};

/// Every route of the service. Under `/api/v1` the routes are grouped in scopes by their first
/// segment: actix tries a scope's fixed prefix with a string comparison and a route with a
/// parameter with a regular expression, in the order they are registered, so one flat list made
/// a request for `/patients/{id}/progress` run the expressions of every route registered before
/// it (see docs/performance.md, item 20); now it runs those of its own group only.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").route(web::get().to(ops::get_healthz)))
        .service(web::resource("/readyz").route(web::get().to(ops::get_readyz)))
        .service(web::resource("/metrics").route(web::get().to(ops::get_metrics)))
        .service(web::resource("/openapi.json").route(web::get().to(openapi::get_openapi)))
        .configure(page_routes)
        .service(
            web::scope("/api/v1")
                .service(auth_routes())
                .service(me_routes())
                .service(patient_routes())
                .service(
                    web::scope("/courses")
                        .service(
                            web::resource("/{id}")
                                .route(web::get().to(courses::get_course))
                                .route(web::patch().to(courses::update_course)),
                        )
                        .service(
                            web::resource("/{id}/sessions")
                                .route(web::get().to(sessions::list_course_sessions))
                                .route(web::post().to(sessions::create_session)),
                        ),
                )
                .service(
                    web::scope("/sessions")
                        .service(
                            web::resource("/{id}")
                                .route(web::get().to(sessions::get_session))
                                .route(web::patch().to(sessions::update_session)),
                        )
                        .service(web::resource("/{id}/adherence").route(web::get().to(checkins::get_session_adherence)))
                        .service(web::resource("/{id}/cancel").route(web::post().to(sessions::cancel_session))),
                )
                .service(
                    web::scope("/photos")
                        .service(web::resource("/{id}").route(web::delete().to(photos::delete_photo)))
                        .service(web::resource("/{id}/image").route(web::get().to(photos::get_photo_image))),
                )
                .service(
                    web::resource("/screenings/{id}/override").route(web::post().to(screenings::override_screening)),
                )
                .service(web::resource("/scales").route(web::get().to(scores::list_scales)))
                .service(
                    web::scope("/fhir")
                        .service(web::resource("/metadata").route(web::get().to(interop::get_fhir_metadata)))
                        .service(
                            web::resource("/Questionnaire/aftercare-checkin")
                                .route(web::get().to(interop::get_checkin_questionnaire)),
                        ),
                )
                .service(web::resource("/alerts").route(web::get().to(alerts::list_alerts)))
                .service(web::resource("/alerts/{id}/resolve").route(web::post().to(alerts::resolve_alert)))
                .service(
                    web::resource("/protocols")
                        .route(web::get().to(protocols::get_protocols))
                        .route(web::put().to(protocols::replace_protocol)),
                )
                .service(
                    web::resource("/clinic")
                        .route(web::get().to(protocols::get_clinic))
                        .route(web::patch().to(protocols::update_clinic)),
                )
                .service(
                    web::resource("/unsubscribe")
                        .route(web::get().to(unsubscribe::unsubscribe_page))
                        .route(web::post().to(unsubscribe::unsubscribe)),
                )
                .service(web::resource("/unsubscribe/resubscribe").route(web::post().to(unsubscribe::resubscribe)))
                .service(webhook_routes())
                .service(web::resource("/audit-events").route(web::get().to(audit::list_audit_events)))
                .service(web::resource("/staff").route(web::get().to(staff::list_staff)))
                .service(web::resource("/staff/invitations").route(web::post().to(staff::create_staff_invitation)))
                .service(web::resource("/staff/{id}").route(web::patch().to(staff::update_staff_member)))
                .service(web::resource("/invitations").route(web::get().to(invitations::list_invitations)))
                .service(web::resource("/invitations/{id}").route(web::delete().to(invitations::revoke_invitation))),
        )
        .service(
            web::resource("/docs").route(
                web::get()
                    .to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish() }),
            ),
        )
        .service(openapi::swagger_ui());
}

/// The pages behind emailed links (`http::pages`) and the files that let those links open in
/// the app. The unsubscribe page stays at its API address, which sent emails carry.
fn page_routes(cfg: &mut web::ServiceConfig) {
    use pages::{account, checkin, links, problems};
    cfg.service(web::resource("/assets/pages.css").route(web::get().to(links::stylesheet)))
        .service(web::resource("/problems").route(web::get().to(problems::problems)))
        .service(web::resource("/problems/{code}").route(web::get().to(problems::problem)))
        .service(
            web::resource("/invite")
                .route(web::get().to(account::invite_page))
                .route(web::post().to(account::accept_invitation)),
        )
        .service(
            web::resource("/reset-password")
                .route(web::get().to(account::reset_page))
                .route(web::post().to(account::reset_password)),
        )
        .service(web::resource("/app/alerts/{id}").route(web::get().to(links::staff_alert)))
        .service(
            web::resource("/app/checkin")
                .route(web::get().to(checkin::checkin_page))
                .route(web::post().to(checkin::submit_checkin)),
        )
        .service(
            web::resource("/app/log_serum")
                .route(web::get().to(checkin::serum_page))
                .route(web::post().to(checkin::log_serum)),
        )
        .service(web::resource("/app/{action}").route(web::get().to(links::app_link)))
        .service(
            web::resource("/.well-known/apple-app-site-association")
                .route(web::get().to(links::apple_app_site_association)),
        )
        .service(web::resource("/.well-known/assetlinks.json").route(web::get().to(links::asset_links)));
}

fn auth_routes() -> actix_web::Scope {
    web::scope("/auth")
        .service(web::resource("/login").route(web::post().to(auth::login)))
        .service(web::resource("/refresh").route(web::post().to(auth::refresh)))
        .service(web::resource("/logout").route(web::post().to(auth::logout)))
        .service(web::resource("/accept-invitation").route(web::post().to(auth::accept_invitation)))
        .service(web::resource("/password-reset").route(web::post().to(auth::request_password_reset)))
        .service(web::resource("/password-reset/confirm").route(web::post().to(auth::confirm_password_reset)))
}

/// A patient's own routes (`/me`, `/me/...`).
fn me_routes() -> actix_web::Scope {
    web::scope("/me")
        .service(web::resource("").route(web::get().to(me::get_me)).route(web::delete().to(me::delete_me)))
        .service(web::resource("/password").route(web::post().to(me::change_my_password)))
        .service(
            web::resource("/profile").route(web::get().to(me::get_profile)).route(web::patch().to(me::update_profile)),
        )
        .service(
            web::resource("/consents")
                .route(web::get().to(me::get_my_consents))
                .route(web::post().to(me::change_my_consent)),
        )
        .service(
            web::resource("/devices")
                .route(web::get().to(devices::list_my_devices))
                .route(web::post().to(devices::register_my_device)),
        )
        .service(web::resource("/devices/{id}").route(web::delete().to(devices::delete_my_device)))
        .service(web::resource("/reminders").route(web::get().to(reminders::list_my_reminders)))
        .service(web::resource("/reminders/{id}/snooze").route(web::post().to(reminders::snooze_reminder)))
        .service(web::resource("/reminders/{id}/done").route(web::post().to(reminders::complete_reminder)))
        .service(
            web::resource("/checkins")
                .route(web::get().to(checkins::list_my_checkins))
                .route(web::post().to(checkins::create_my_checkin)),
        )
        .service(
            web::resource("/serum-applications")
                .route(web::get().to(checkins::list_my_serum_applications))
                .route(web::post().to(checkins::create_my_serum_application)),
        )
        .service(
            web::resource("/photos")
                .route(web::get().to(photos::list_my_photos))
                .route(web::post().to(photos::upload_my_photo)),
        )
        .service(web::resource("/scores").route(web::post().to(scores::create_my_score)))
        .service(web::resource("/progress").route(web::get().to(scores::get_my_progress)))
        .service(web::resource("/progress/chart.svg").route(web::get().to(scores::get_my_progress_chart_svg)))
        .service(web::resource("/fhir").route(web::get().to(interop::get_my_fhir)))
        .service(web::resource("/export").route(web::get().to(records::get_my_export)))
        .service(web::resource("/calendar.ics").route(web::get().to(calendar::get_calendar)))
        .service(
            web::resource("/calendar-feed")
                .route(web::get().to(calendar::get_calendar_feed))
                .route(web::post().to(calendar::create_calendar_feed))
                .route(web::delete().to(calendar::delete_calendar_feed)),
        )
        .service(web::resource("/courses").route(web::get().to(me::list_my_courses)))
        .service(web::resource("/sessions").route(web::get().to(me::list_my_sessions)))
}

/// The staff's routes of one patient's record (`/patients`, `/patients/{id}/...`).
fn patient_routes() -> actix_web::Scope {
    web::scope("/patients")
        .service(
            web::resource("")
                .route(web::get().to(patients::list_patients))
                .route(web::post().to(patients::create_patient)),
        )
        .service(
            web::resource("/{id}")
                .route(web::get().to(patients::get_patient))
                .route(web::patch().to(patients::update_patient))
                .route(web::delete().to(records::erase_patient)),
        )
        .service(web::resource("/{id}/progress").route(web::get().to(scores::get_patient_progress)))
        .service(web::resource("/{id}/reminders").route(web::get().to(reminders::list_patient_reminders)))
        .service(web::resource("/{id}/checkins").route(web::get().to(checkins::list_patient_checkins)))
        .service(
            web::resource("/{id}/serum-applications").route(web::get().to(checkins::list_patient_serum_applications)),
        )
        .service(
            web::resource("/{id}/photos")
                .route(web::get().to(photos::list_patient_photos))
                .route(web::post().to(photos::upload_patient_photo)),
        )
        .service(
            web::resource("/{id}/scores")
                .route(web::get().to(scores::list_patient_scores))
                .route(web::post().to(scores::create_patient_score)),
        )
        .service(web::resource("/{id}/progress/chart.svg").route(web::get().to(scores::get_progress_chart_svg)))
        .service(web::resource("/{id}/progress/chart.png").route(web::get().to(scores::get_progress_chart_png)))
        .service(web::resource("/{id}/fhir").route(web::get().to(interop::get_patient_fhir)))
        .service(web::resource("/{id}/archive").route(web::post().to(patients::archive_patient)))
        .service(web::resource("/{id}/invitation").route(web::post().to(patients::resend_patient_invitation)))
        .service(
            web::resource("/{id}/consents")
                .route(web::get().to(patients::list_patient_consents))
                .route(web::post().to(patients::create_patient_consent)),
        )
        .service(
            web::resource("/{id}/courses")
                .route(web::get().to(courses::list_patient_courses))
                .route(web::post().to(courses::create_course)),
        )
        .service(web::resource("/{id}/sessions").route(web::get().to(sessions::list_patient_sessions)))
        .service(
            web::resource("/{id}/screenings")
                .route(web::get().to(screenings::list_screenings))
                .route(web::post().to(screenings::create_screening)),
        )
}

fn webhook_routes() -> actix_web::Scope {
    web::scope("/webhooks")
        .service(
            web::resource("")
                .route(web::get().to(webhooks::list_webhooks))
                .route(web::post().to(webhooks::create_webhook)),
        )
        .service(
            web::resource("/{id}")
                .route(web::get().to(webhooks::get_webhook))
                .route(web::patch().to(webhooks::update_webhook))
                .route(web::delete().to(webhooks::delete_webhook)),
        )
        .service(web::resource("/{id}/rotate-secret").route(web::post().to(webhooks::rotate_webhook_secret)))
        .service(web::resource("/{id}/deliveries").route(web::get().to(webhooks::list_webhook_deliveries)))
        .service(web::resource("/deliveries/{id}/resend").route(web::post().to(webhooks::resend_webhook_delivery)))
}

/// Path and query extractor failures as problem+json.
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::new(ErrorCode::InvalidPath, err.to_string()).into()),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::new(ErrorCode::InvalidQuery, err.to_string()).into()),
    );
}

/// Unknown routes.
pub async fn route_not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::code(ErrorCode::RouteNotFound))
}
