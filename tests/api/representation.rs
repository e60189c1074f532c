//! `Location` on what a 201 created, and `ETag` / `If-None-Match` on reads (issue 27).

use crate::helpers::{TestApp, access, ok as body};
use serde_json::{Value, json};

async fn get_with(app: &TestApp, path: &str, token: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(path)).bearer_auth(token);
    if let Some(tag) = if_none_match {
        req = req.header("if-none-match", tag);
    }
    req.send().await.unwrap()
}

fn location(res: &reqwest::Response) -> String {
    res.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

fn etag(res: &reqwest::Response) -> String {
    res.headers().get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

#[tokio::test]
async fn a_created_resource_is_where_its_location_says() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let staff = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);

    let res =
        app.post("/api/v1/patients", &json!({"name": "Jane Doe", "time_zone": "Europe/London"}), Some(&staff)).await;
    let at = location(&res);
    let patient = body(res, 201).await;
    let id = patient["id"].as_str().unwrap();
    assert_eq!(at, format!("/api/v1/patients/{id}"));
    let read = body(get_with(&app, &at, &staff, None).await, 200).await;
    assert_eq!(read["id"], patient["id"]);

    let res = app
        .post(
            &format!("/api/v1/patients/{id}/courses"),
            &json!({"concerns": ["texture"], "planned_sessions": 3}),
            Some(&staff),
        )
        .await;
    let at = location(&res);
    let course = body(res, 201).await;
    assert_eq!(at, format!("/api/v1/courses/{}", course["id"].as_str().unwrap()));
    assert_eq!(body(get_with(&app, &at, &staff, None).await, 200).await["id"], course["id"]);

    // A 201 without a URL of its own (a screening) says nothing of one.
    let res =
        app.post(&format!("/api/v1/patients/{id}/screenings"), &crate::clinical::answers(&[]), Some(&staff)).await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("location").is_none());

    // The document says which operations set it.
    let doc: Value = app.get("/openapi.json", None).await.json().await.unwrap();
    let created = &doc["paths"]["/api/v1/patients"]["post"]["responses"]["201"]["headers"];
    assert!(created["Location"]["description"].as_str().unwrap().contains("/api/v1/patients/{id}"), "{created}");
}

#[tokio::test]
async fn a_read_answers_304_while_its_etag_holds_and_a_new_tag_after_a_change() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let staff = access(&app.invite_and_accept(&admin, "dr.lee@glow.example", "clinician").await);
    let patient = body(
        app.post("/api/v1/patients", &json!({"name": "Jane Doe", "time_zone": "Europe/London"}), Some(&staff)).await,
        201,
    )
    .await;
    let path = format!("/api/v1/patients/{}", patient["id"].as_str().unwrap());

    let first = get_with(&app, &path, &staff, None).await;
    assert_eq!(first.status(), 200);
    let tag = etag(&first);
    assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 34, "{tag}");
    // The same representation has the same tag.
    assert_eq!(etag(&get_with(&app, &path, &staff, None).await), tag);

    let again = get_with(&app, &path, &staff, Some(&tag)).await;
    assert_eq!(again.status(), 304);
    assert_eq!(etag(&again), tag);
    assert_eq!(again.headers().get("cache-control").unwrap(), "no-store");
    assert!(again.bytes().await.unwrap().is_empty());
    // A list of tags, or a weak one, matches too; another tag does not.
    assert_eq!(get_with(&app, &path, &staff, Some(&format!("\"x\", W/{tag}"))).await.status(), 304);
    assert_eq!(get_with(&app, &path, &staff, Some("\"x\"")).await.status(), 200);

    let changed =
        app.client.patch(app.url(&path)).bearer_auth(&staff).json(&json!({"name": "Jane Roe"})).send().await.unwrap();
    assert_eq!(changed.status(), 200);
    let after = get_with(&app, &path, &staff, Some(&tag)).await;
    assert_eq!(after.status(), 200);
    assert_ne!(etag(&after), tag);
    assert_eq!(body(after, 200).await["name"], "Jane Roe");

    // Lists and charts carry one too; another clinic's caller still gets 404, tag or not.
    let list = get_with(&app, "/api/v1/patients", &staff, None).await;
    assert_eq!(list.status(), 200);
    assert!(!etag(&list).is_empty());
    let chart = get_with(&app, &format!("{path}/progress/chart.svg"), &staff, None).await;
    assert_eq!(chart.status(), 200);
    let chart_tag = etag(&chart);
    assert_eq!(get_with(&app, &format!("{path}/progress/chart.svg"), &staff, Some(&chart_tag)).await.status(), 304);
    app.create_admin("Other Clinic", "admin@other.example").await;
    let other = access(&app.login("admin@other.example", crate::helpers::PASSWORD).await);
    assert_eq!(get_with(&app, &path, &other, Some(&tag)).await.status(), 404);
}
