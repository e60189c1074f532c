use crate::helpers::TestApp;
use serde_json::Value;

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_checks_the_database() {
    let app = TestApp::spawn().await;
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn a_sane_request_id_is_kept_and_a_hostile_one_replaced() {
    let app = TestApp::spawn().await;
    let res = app.client.get(app.url("/healthz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app.client.get(app.url("/healthz")).header("x-request-id", "a b\"c").send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(id, "a b\"c");
    assert!(uuid::Uuid::parse_str(&id).is_ok());
}

/// Every documented operation, called with made-up path values and no credentials, is counted
/// under its route's template: the label rebuilt from the router's match (or, for 404 and 405,
/// actix's own `match_pattern`) names the same parameters as the document, and never a value.
#[tokio::test]
async fn every_documented_operation_is_counted_under_its_template() {
    let app = TestApp::spawn().await;
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap(),
    )
    .unwrap();
    let mut expected = Vec::new();
    for (template, operations) in doc["paths"].as_object().unwrap() {
        let concrete: String = template
            .split('/')
            .map(|part| if part.starts_with('{') { "v-4711" } else { part })
            .collect::<Vec<_>>()
            .join("/");
        for method in operations.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app
                .client
                .request(method.clone(), app.url(&concrete))
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            assert!(res.status().as_u16() < 500, "{method} {concrete}: {}", res.status());
            expected.push(format!(r#"{{method="{method}",route="{template}","#));
        }
    }
    assert!(expected.len() > 50, "the document lists the operations");
    let text = app.scrape().await;
    for label in &expected {
        assert!(text.contains(label.as_str()), "no {label} in\n{text}");
    }
    assert!(!text.contains("v-4711"), "a path value became a label");
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() {
    let app = TestApp::spawn().await;
    app.get("/healthz", None).await;
    app.get("/api/v1/me", None).await;
    app.get("/no/such/thing", None).await;
    app.get("/api/v1/patients/p-1/progress", None).await;
    app.get("/api/v1/patients/a%20b%2Fc/progress", None).await;
    let text = app.scrape().await;
    assert!(text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"http_requests_total{method="GET",route="/api/v1/me",status="401"} 1"#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404"} 1"#), "{text}");
    let by_id = r#"http_requests_total{method="GET",route="/api/v1/patients/{id}/progress",status="401"} 2"#;
    assert!(text.contains(by_id), "{text}");
    assert!(text.contains(r#"http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 1"#), "{text}");
    for raw in ["/no/such/thing", "p-1", "a%20b"] {
        assert!(!text.contains(raw), "raw paths must not become labels: {raw}");
    }
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    let served = res.text().await.unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap();
    assert_eq!(served, committed);
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let res = app.get("/docs", None).await;
    assert_eq!(res.status(), 308);
    assert_eq!(res.headers()["location"], "/docs/");
    let res = app.get("/docs/", None).await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("cdn"), "the page must not load scripts from a CDN");
    let init = app.get("/docs/swagger-initializer.js", None).await.text().await.unwrap();
    assert!(init.contains("/docs/openapi.json"), "{init}");
    let doc: Value = app.get("/docs/openapi.json", None).await.json().await.unwrap();
    assert_eq!(doc["info"]["title"], "Aftercare API");
}
