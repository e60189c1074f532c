//! Every error, actix's own included, is problem+json with a stable code.

use crate::helpers::{TestApp, assert_problem};
use serde_json::json;

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/api/v1/nothing-here", None).await, 404, "route_not_found").await;
    // Inside a group of routes (`/patients`, `/me`, `/webhooks`: scopes of their own), an unknown
    // path is the same problem, not a bare 404 of the scope.
    for path in ["/api/v1/patients/p-1/nothing", "/api/v1/me/nothing", "/api/v1/webhooks/w-1/x/y", "/api/v1/me/"] {
        assert_problem(app.get(path, None).await, 404, "route_not_found").await;
    }
    let metrics = app.scrape().await;
    assert!(!metrics.contains("nothing"), "an unknown path must not become a label:\n{metrics}");
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let app = TestApp::spawn().await;
    assert_problem(app.get("/api/v1/auth/login", None).await, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn malformed_json_is_a_400_problem() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "malformed_json").await;
}

#[tokio::test]
async fn a_wrong_content_type_is_a_415_problem() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "text/plain")
        .body(r#"{"email":"a@b.co","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported_media_type").await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_problem() {
    let app = TestApp::spawn_with(|s| s.server.json_limit_bytes = 1024).await;
    let big = json!({"email": "a@b.co", "password": "x".repeat(2000)});
    assert_problem(app.post("/api/v1/auth/login", &big, None).await, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_a_422_naming_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let clinic = |body: &'static str| {
        app.client
            .patch(app.url("/api/v1/clinic"))
            .bearer_auth(&admin)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let before = crate::helpers::ok(app.get("/api/v1/clinic", Some(&admin)).await, 200).await;
    // serde_json would read a struct from an array of its fields in order; the API takes objects only.
    let p = assert_problem(clinic(r#"["Renamed", null]"#).await.unwrap(), 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], ".", "{p}");
    assert_eq!(crate::helpers::ok(app.get("/api/v1/clinic", Some(&admin)).await, 200).await, before);
    // An enum given a number is valid JSON of the wrong type (serde_json calls it a syntax error).
    let step = json!({"key": "k", "kind": 0, "title": "t", "message": "m",
        "schedule": {"type": "after_hours", "hours": [1]}, "goal": null, "action": null});
    let res = app
        .client
        .put(app.url("/api/v1/protocols"))
        .bearer_auth(&admin)
        .json(&json!({"steps": [step]}))
        .send()
        .await
        .unwrap();
    let p = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "steps[0].kind", "{p}");
}

#[tokio::test]
async fn unknown_and_missing_fields_are_422_with_field_errors() {
    let app = TestApp::spawn().await;
    let res = app.post("/api/v1/auth/login", &json!({"email": "a@b.co", "password": "p", "admin": true}), None).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "admin");
    let res = app.post("/api/v1/auth/login", &json!({"email": "a@b.co"}), None).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "password");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("missing"));
    let res = app.post("/api/v1/auth/login", &json!({"email": 42, "password": "p"}), None).await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "email");
}

#[tokio::test]
async fn an_authorization_that_is_not_bearer_is_a_401_problem() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/api/v1/me")).header("authorization", "Basic abc").send().await.unwrap();
    assert_problem(res, 401, "unauthenticated").await;
}

#[tokio::test]
async fn a_problems_type_is_a_page_that_says_what_the_code_means() {
    let app = TestApp::spawn().await;
    let problem = assert_problem(app.get("/api/v1/me", None).await, 401, "unauthenticated").await;
    let type_uri = problem["type"].as_str().unwrap();
    assert_eq!(type_uri, "/problems/unauthenticated");
    let res = app.get(type_uri, None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(res.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    // Fluent isolates each argument with U+2068/U+2069 (bidirectional text); read without them.
    let page = res.text().await.unwrap().replace(['\u{2068}', '\u{2069}'], "");
    assert!(page.contains("problem code unauthenticated (HTTP status 401)"), "{page}");
    assert!(page.contains("Authentication is required") && page.contains("href=\"&#x2f;problems\""), "{page}");

    // The list names every code; Spanish for a Spanish browser; an unknown code is a 404 page.
    let all = app.get("/problems", None).await.text().await.unwrap();
    for code in aftercare::error::ErrorCode::ALL {
        assert!(all.contains(&format!("{} ({})", code.as_str(), code.status().as_u16())), "{code:?}");
    }
    let es = app.client.get(app.url("/problems/not_found")).header("accept-language", "es").send().await.unwrap();
    let es = es.text().await.unwrap();
    assert!(es.contains("<html lang=\"es\">") && es.contains("Acerca de este error"), "{es}");
    let unknown = app.get("/problems/no_such_code", None).await;
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("No such error code"));
}
