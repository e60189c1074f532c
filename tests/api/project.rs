//! The repository's own promises: matching migrations, a compose file and README that agree
//! with the code's setting names, and documentation whose relative links resolve.

use std::collections::BTreeSet;

use aftercare::config::ENV_SETTINGS;

fn root(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn migration_names(backend: &str) -> BTreeSet<String> {
    std::fs::read_dir(root(&format!("migrations/{backend}")))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
    for name in &sqlite {
        for backend in ["sqlite", "postgres"] {
            for file in ["up.sql", "down.sql"] {
                assert!(root(&format!("migrations/{backend}/{name}/{file}")).exists(), "{backend}/{name}/{file}");
            }
        }
    }
}

/// Setting names (`AFTERCARE__…`, `DATABASE_URL`) in the README's settings table.
fn readme_settings() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(root("README.md")).unwrap();
    readme
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("AFTERCARE__") || *n == "DATABASE_URL")
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_readme_lists_every_setting_and_no_other() {
    let code: BTreeSet<String> = ENV_SETTINGS.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(readme_settings(), code);
}

#[test]
fn the_readme_starts_with_the_run_and_test_commands() {
    let readme = std::fs::read_to_string(root("README.md")).unwrap();
    let head: String = readme.lines().take(20).collect::<Vec<_>>().join("\n");
    assert!(head.contains("cargo run --release"), "{head}");
    assert!(head.contains("cargo test"), "{head}");
}

#[test]
fn the_compose_file_parses_and_uses_the_readme_setting_names() {
    let text = std::fs::read_to_string(root("docker-compose.yml")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let services = doc["services"].as_mapping().unwrap();
    for needed in ["app", "postgres", "mail"] {
        assert!(services.contains_key(needed), "service {needed}");
    }
    let env = doc["services"]["app"]["environment"].as_mapping().unwrap();
    let names: BTreeSet<String> = env.keys().map(|k| k.as_str().unwrap().to_owned()).collect();
    let documented = readme_settings();
    assert!(!names.is_empty());
    for name in &names {
        assert!(documented.contains(name), "{name} is used by docker-compose.yml but not in the README");
    }
    for essential in ["DATABASE_URL", "AFTERCARE__MAIL__SMTP_URL", "AFTERCARE__SERVER__BIND"] {
        assert!(names.contains(essential), "compose sets {essential}");
    }
    // The mail catcher has a web UI and the app points at its SMTP port.
    let mail_ports: Vec<String> = doc["services"]["mail"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect();
    assert!(mail_ports.iter().any(|p| p.ends_with(":1080")), "{mail_ports:?}");
    assert_eq!(env[&serde_yaml::Value::from("AFTERCARE__MAIL__SMTP_URL")], "smtp://mail:1025");
    // Every service restarts, published ports are on loopback unless PUBLISH_ADDRESS says
    // otherwise, and the app's health is its own `aftercare healthcheck` (exec form, no shell).
    for (name, service) in services {
        assert_eq!(service["restart"], "unless-stopped", "{name:?} restarts");
        for port in service["ports"].as_sequence().into_iter().flatten() {
            assert!(port.as_str().unwrap().starts_with("${PUBLISH_ADDRESS:-127.0.0.1}:"), "{name:?}: {port:?}");
        }
    }
    let test: Vec<&str> = doc["services"]["app"]["healthcheck"]["test"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(test[..3], ["CMD", "aftercare", "healthcheck"]);
}

#[test]
fn the_dockerfile_is_multi_stage_and_runs_the_server() {
    let text = std::fs::read_to_string(root("Dockerfile")).unwrap();
    assert!(text.matches("FROM ").count() >= 2, "multi-stage");
    assert!(text.contains("cargo build --release --locked"));
    assert!(text.contains("AFTERCARE__SERVER__BIND=0.0.0.0:8080"));
    assert!(text.contains("USER "), "runs unprivileged");
    // Everything the manifest and the build read must be in the image's build context.
    for dir in ["src", "migrations", "templates", "openapi", "benches"] {
        assert!(text.contains(&format!("COPY {dir} ./{dir}")), "the Dockerfile copies {dir}/");
    }
    assert!(text.contains("COPY Cargo.toml Cargo.lock build.rs ./"), "the Dockerfile copies the build script");
    // The health check runs the binary in exec form: debian-slim's /bin/sh (dash) has no /dev/tcp.
    let check = text.lines().find(|l| l.starts_with("HEALTHCHECK ")).expect("a HEALTHCHECK");
    assert!(check.contains(r#"CMD ["aftercare", "healthcheck""#), "{check}");
    assert!(!check.contains("/bin/sh") && !check.contains("/dev/tcp"), "{check}");
}

/// The Markdown files of the project's documentation: the README and everything under `docs/`.
fn documentation_files() -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root("README.md")];
    walk(&root("docs"), &mut files);
    files
}

/// The targets of the Markdown links (`[text](target)`) in `text`, outside code blocks and code
/// spans.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop code spans: the text between backticks is not Markdown.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn link_targets_are_found_outside_code_only() {
    let text = "See [a](docs/a.md#part) and [b](https://example.org).\n`[c](not/a/link.md)`\n```\n[d](x.md)\n```\n";
    assert_eq!(link_targets(text), ["docs/a.md#part", "https://example.org"]);
}

#[test]
fn relative_links_in_the_readme_and_docs_resolve() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in documentation_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for target in link_targets(&text) {
            let external = ["http://", "https://", "mailto:", "webcal://"].iter().any(|s| target.starts_with(s));
            let path = target.split('#').next().unwrap_or_default();
            if external || path.is_empty() {
                continue;
            }
            checked += 1;
            if !file.parent().unwrap().join(path).exists() {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
    assert!(checked >= 10, "only {checked} relative links found: is the parser still finding them?");
    // The README is the way in: it links to each document that took over a part of it.
    let readme = std::fs::read_to_string(root("README.md")).unwrap();
    let linked = link_targets(&readme);
    for doc in ["docs/performance.md", "docs/architecture.md", "docs/adr/README.md", "docs/security.md"] {
        assert!(linked.iter().any(|t| t == doc), "the README links to {doc}");
    }
}
