//! What an attacker or a careless client finds at the network edge: webhooks that would reach
//! inside the service's own network (SSRF), NUL characters that PostgreSQL cannot store, and
//! the headers that keep browsers and caches from misusing responses. Every test runs on both
//! backends (`TEST_DATABASE_URL`).

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, assert_problem, ok, treated_patient},
    photos::{image_bytes, upload},
};
use aftercare::{
    clock::Clock,
    jobs::webhooks::deliver_due_webhooks,
    repo::webhooks::{self as webhook_repo, EndpointChanges},
};

/// Every spelling of an internal address the issue lists, and a few more.
const INTERNAL_URLS: &[&str] = &[
    "http://127.0.0.1/hook",
    "http://127.1/hook",
    "http://2130706433/hook",
    "http://0x7f000001/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.0.0.1/hook",
    "http://172.16.0.1/hook",
    "http://172.31.255.254/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fc00::1]/hook",
    "http://[fd00::1]/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",
    "http://[::ffff:10.0.0.1]/hook",
    "http://localhost:8080/hook",
    "http://localhost./hook",
];

async fn url_refused(res: Response) {
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "url", "{body}");
}

#[tokio::test]
async fn webhook_urls_inside_the_network_are_refused_on_create_and_update() {
    let app = TestApp::spawn().await;
    let staff = app.admin_token().await;
    let public = json!({"url": "https://crm.example/hook", "events": ["alert.created"]});
    let hook = ok(app.post("/api/v1/webhooks", &public, Some(&staff)).await, 201).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"].as_str().unwrap());

    for url in INTERNAL_URLS {
        let body = json!({"url": url, "events": ["alert.created"]});
        url_refused(app.post("/api/v1/webhooks", &body, Some(&staff)).await).await;
        let res = app.client.patch(app.url(&path)).bearer_auth(&staff).json(&json!({"url": url})).send().await.unwrap();
        url_refused(res).await;
    }
    let kept = ok(app.get(&path, Some(&staff)).await, 200).await;
    assert_eq!(kept["url"], "https://crm.example/hook", "no refused URL was stored");
    assert_eq!(ok(app.get("/api/v1/webhooks", Some(&staff)).await, 200).await["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_setting_lets_an_on_premise_install_register_private_targets() {
    let app = TestApp::spawn_with(|s| s.webhooks.allow_private_targets = true).await;
    let staff = app.admin_token().await;
    for url in ["http://127.0.0.1:9000/hook", "http://10.0.0.5/hook", "http://localhost:8080/hook"] {
        let body = json!({"url": url, "events": ["alert.created"]});
        ok(app.post("/api/v1/webhooks", &body, Some(&staff)).await, 201).await;
    }
}

/// A loopback receiver that counts what reaches it.
async fn receiver() -> (u16, Arc<Mutex<usize>>) {
    let hits: Arc<Mutex<usize>> = Arc::default();
    let h = hits.clone();
    let server = HttpServer::new(move || {
        let h = h.clone();
        App::new().default_service(web::to(move || {
            let h = h.clone();
            async move {
                *h.lock().unwrap() += 1;
                HttpResponse::NotFound().body("nginx/1.18 secret internal page")
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    (port, hits)
}

/// Points an endpoint registered with a public name at `url`, as a DNS answer changing after
/// registration (rebinding) or a row written before the check existed would.
async fn repoint(app: &TestApp, id: &str, url: String) {
    let id = id.to_owned();
    app.state
        .db
        .run(move |c| webhook_repo::update_endpoint(c, &id, &EndpointChanges { url: Some(url), ..Default::default() }))
        .await
        .unwrap();
}

#[tokio::test]
async fn deliveries_to_internal_targets_are_refused_without_a_request_or_a_port_hint() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &[]).await;
    let (port, hits) = receiver().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // A name that resolves to loopback (through the resolver), an IP literal to an open port,
    // and one to a closed port: all three must look the same afterwards.
    let targets = [
        format!("http://localhost:{port}/hook"),
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{closed}/hook"),
    ];
    let mut ids = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        let body = json!({"url": format!("https://crm{i}.example/hook"), "events": ["alert.created"]});
        let id = ok(app.post("/api/v1/webhooks", &body, Some(&fx.staff)).await, 201).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        repoint(&app, &id, target.clone()).await;
        ids.push(id);
    }
    let checkin = json!({"redness": 2, "swelling": 1, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &checkin, Some(&fx.patient)).await, 201).await;

    let report = deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((report.claimed, report.failed, report.refused, report.delivered), (3, 3, 3, 0), "{report:?}");
    assert_eq!(*hits.lock().unwrap(), 0, "nothing reached the internal receiver");
    let mut seen = Vec::new();
    for id in &ids {
        let log = ok(app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&fx.staff)).await, 200).await;
        let d = &log["items"][0];
        assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("failed"), Some(1)), "{d}");
        assert_eq!(d["last_status_code"], Value::Null, "{d}");
        assert_eq!(d["attempt_log"][0]["status_code"], Value::Null, "{d}");
        seen.push((d["last_error"].clone(), d["attempt_log"][0]["error"].clone()));
    }
    assert!(seen.iter().all(|s| *s == seen[0]), "open, closed and named targets read the same: {seen:?}");
    let reason = seen[0].0.as_str().unwrap();
    assert_eq!(reason, aftercare::security::ssrf::REFUSED, "one fixed reason");
    for hint in ["404", "nginx", "connect", &port.to_string(), &closed.to_string()] {
        assert!(!reason.contains(hint), "{reason}");
    }
    assert_eq!(deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap().claimed, 0, "not retried");
}

#[tokio::test]
async fn with_the_setting_a_loopback_receiver_is_delivered_to() {
    let app = TestApp::spawn_with(|s| s.webhooks.allow_private_targets = true).await;
    let fx = treated_patient(&app, &[]).await;
    let (port, hits) = receiver().await;
    let body = json!({"url": format!("http://localhost:{port}/hook"), "events": ["alert.created"]});
    ok(app.post("/api/v1/webhooks", &body, Some(&fx.staff)).await, 201).await;
    let checkin = json!({"redness": 2, "swelling": 1, "pain": 1, "itch": 0, "red_flags": ["fever"]});
    ok(app.post("/api/v1/me/checkins", &checkin, Some(&fx.patient)).await, 201).await;
    let report = deliver_due_webhooks(&app.state, app.clock.now()).await.unwrap();
    assert_eq!((report.claimed, report.retried, report.refused), (1, 1, 0), "{report:?}");
    assert_eq!(*hits.lock().unwrap(), 1, "the request reached the receiver");
}

/// The ids a route shape needs to reach its handler's database work.
struct Ids {
    patient: String,
    course: String,
    session: String,
    webhook: String,
}

impl Ids {
    fn fill(&self, path: &str, id: &str) -> String {
        let known = [
            ("/patients/{id}", &self.patient),
            ("/courses/{id}", &self.course),
            ("/sessions/{id}", &self.session),
            ("/webhooks/{id}", &self.webhook),
        ];
        let id = known.iter().find(|(p, _)| path.contains(p)).map_or(id, |(_, v)| v.as_str());
        path.replace("{id}", id)
    }
}

/// Every operation of the API document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            out.push((Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(), path.clone(), op.clone()));
        }
    }
    out
}

fn token_for<'a>(path: &str, staff: &'a str, patient: &'a str) -> &'a str {
    if path.starts_with("/api/v1/me") { patient } else { staff }
}

/// The string properties of an operation's JSON body.
fn string_fields(doc: &Value, op: &Value) -> Vec<String> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    let Some(name) = schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/components/schemas/")) else {
        return Vec::new();
    };
    let is_string = |t: &Value| t == "string" || t.as_array().is_some_and(|a| a.contains(&json!("string")));
    doc["components"]["schemas"][name]["properties"]
        .as_object()
        .map(|props| props.iter().filter(|(_, p)| is_string(&p["type"])).map(|(k, _)| k.clone()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_nul_character_is_never_a_500_on_either_backend() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["photos"]).await;
    let hook = json!({"url": "https://crm.example/hook", "events": ["alert.created"]});
    let webhook =
        ok(app.post("/api/v1/webhooks", &hook, Some(&fx.staff)).await, 201).await["id"].as_str().unwrap().to_owned();
    let ids = Ids { patient: fx.pid.clone(), course: fx.course.clone(), session: fx.session.clone(), webhook };
    let doc = ok(app.get("/openapi.json", None).await, 200).await;
    let send = |method: Method, path: String, body: Option<Value>, token: &str| {
        let mut req = app.client.request(method, app.url(&path)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };

    let mut probes = (0, 0, 0);
    for (method, path, op) in operations(&doc) {
        let token = token_for(&path, &fx.staff, &fx.patient);
        // A path id with a NUL names nothing.
        if path.contains("{id}") {
            let target = path.replace("{id}", "0190f0e0-0000-7000-8000-000000000000%00");
            let res = send(method.clone(), target.clone(), Some(json!({})), token).await.unwrap();
            assert_problem(res, 404, "not_found").await;
            probes.0 += 1;
        }
        // A query parameter with a NUL is malformed: 400 naming it.
        for param in op["parameters"].as_array().into_iter().flatten().filter(|p| p["in"] == "query") {
            let name = param["name"].as_str().unwrap();
            let target = format!("{}?{name}=ab%00c", ids.fill(&path, "0190f0e0-0000-7000-8000-000000000000"));
            let res = send(method.clone(), target.clone(), None, token).await.unwrap();
            let body = assert_problem(res, 400, "invalid_query").await;
            assert!(body["detail"].as_str().unwrap().contains(&format!("`{name}`")), "{method} {target}: {body}");
            probes.1 += 1;
        }
        // Each text of a JSON body, holding a NUL, is a 422 naming that field.
        for field in string_fields(&doc, &op) {
            let target = ids.fill(&path, "0190f0e0-0000-7000-8000-000000000000");
            let res = send(method.clone(), target.clone(), Some(json!({ &field: "a\u{0}b" })), token).await.unwrap();
            let body = assert_problem(res, 422, "validation_failed").await;
            assert_eq!(body["errors"][0]["field"], field.as_str(), "{method} {target}: {body}");
            probes.2 += 1;
        }
    }
    assert!(probes.0 >= 40 && probes.1 >= 20 && probes.2 >= 50, "every route shape was probed: {probes:?}");

    // Whole, otherwise valid bodies whose text would reach the database.
    let patient = json!({"name": "Ja\u{0}ne", "email": "j2@x.example", "time_zone": "Europe/London"});
    let res = app.post("/api/v1/patients", &patient, Some(&fx.staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "name");
    let named = json!({"url": "https://crm.example/h", "events": ["alert.created"], "description": "C\u{0}RM"});
    let res = app.post("/api/v1/webhooks", &named, Some(&fx.staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "description");
    let login = json!({"email": "jane\u{0}@x.example", "password": "whatever-it-is"});
    let res = app.post("/api/v1/auth/login", &login, None).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "email");
    let event = json!({"url": "https://crm.example/h", "events": ["alert.created\u{0}"]});
    let res = app.post("/api/v1/webhooks", &event, Some(&fx.staff)).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "events[0]");
    let meta = json!({"view": "front\u{0}al", "time_point": "baseline", "colour_card": true});
    let image = image_bytes(16, 16, [200, 120, 110], image::ImageFormat::Jpeg);
    let res = upload(&app, &format!("/api/v1/patients/{}/photos", fx.pid), &fx.staff, image, meta).await;
    assert_eq!(assert_problem(res, 422, "validation_failed").await["errors"][0]["field"], "metadata.view");
    // The search that reads `q` straight into SQL, and a real id followed by a NUL.
    let res = app.get("/api/v1/patients?q=Ja%00ne", Some(&fx.staff)).await;
    assert!(assert_problem(res, 400, "invalid_query").await["detail"].as_str().unwrap().contains("`q`"));
    assert_problem(app.get(&format!("/api/v1/patients/{}%00", fx.pid), Some(&fx.staff)).await, 404, "not_found").await;
}

fn header<'a>(res: &'a Response, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn responses_carry_nosniff_patient_data_is_never_stored_and_pages_cannot_be_framed() {
    let app = TestApp::spawn().await;
    let fx = treated_patient(&app, &["photos"]).await;
    let image = image_bytes(16, 16, [200, 120, 110], image::ImageFormat::Jpeg);
    let meta = json!({"view": "frontal", "time_point": "baseline", "colour_card": true});
    let photo =
        ok(upload(&app, &format!("/api/v1/patients/{}/photos", fx.pid), &fx.staff, image, meta).await, 201).await;
    let feed = ok(app.post("/api/v1/me/calendar-feed", &json!({}), Some(&fx.patient)).await, 201).await;
    let feed_url = feed["url"].as_str().unwrap();
    let feed_path = feed_url[feed_url.find("/api/").unwrap()..].to_owned();

    let patient_data = vec![
        (format!("/api/v1/patients/{}", fx.pid), fx.staff.clone()),
        (format!("/api/v1/patients/{}/fhir", fx.pid), fx.staff.clone()),
        (format!("/api/v1/patients/{}/progress/chart.svg", fx.pid), fx.staff.clone()),
        (format!("/api/v1/patients/{}/progress/chart.png", fx.pid), fx.staff.clone()),
        (photo["image_url"].as_str().unwrap().to_owned(), fx.staff.clone()),
        ("/api/v1/me/calendar.ics".to_owned(), fx.patient.clone()),
        ("/api/v1/me/fhir".to_owned(), fx.patient.clone()),
        ("/api/v1/patients/nobody".to_owned(), fx.staff.clone()),
        (feed_path, String::new()),
    ];
    for (path, token) in &patient_data {
        let res = app.get(path, (!token.is_empty()).then_some(token.as_str())).await;
        assert!(res.status().as_u16() < 500, "{path}: {}", res.status());
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header(&res, "cache-control"), Some("no-store"), "{path}");
    }
    for path in ["/healthz", "/openapi.json", "/nothing-here"] {
        let res = app.get(path, None).await;
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(header(&res, "cache-control"), None, "{path} holds no patient data");
    }

    let token = app.state.links.sign(&fx.pid);
    let page = app.get(&format!("/api/v1/unsubscribe?token={token}"), None).await;
    let docs = app.get("/docs/", None).await;
    for (name, res) in [("unsubscribe", page), ("docs", docs)] {
        assert_eq!(res.status(), 200, "{name}");
        assert!(header(&res, "content-type").unwrap().starts_with("text/html"), "{name}");
        assert_eq!(header(&res, "x-content-type-options"), Some("nosniff"), "{name}");
        let csp = header(&res, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{name}: {csp}");
        assert!(!csp.contains("'unsafe-eval'") && !csp.contains("script-src *"), "{name}: {csp}");
    }
}
