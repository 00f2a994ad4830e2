use super::*;

fn problems(text: &str) -> Vec<String> {
    match Config::parse(text, "test") {
        Ok(_) => Vec::new(),
        Err(e) => e.problems.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_empty_file_is_the_embedded_default() {
    let c = Config::embedded_default();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:7077");
    assert_eq!(c.storage.url, "sqlite://ferry-data/ferry.db");
    assert_eq!(c.server.max_body, 1 << 20);
    assert!(c.clients.is_empty() && c.subscriptions.is_empty());
}

#[test]
fn a_full_client_and_subscription_parse() {
    let c = Config::parse(
        r#"
        [server]
        listen = "127.0.0.1:0"
        max_body = "64KiB"
        [clients.crm]
        url = "http://127.0.0.1:9000/crm/{{ event.topic }}/{{ event.key }}"
        method = "PUT"
        headers = { "x-source" = "ferry" }
        body = "{{ event.data | tojson }}"
        timeout = "2s"
        concurrency = 3
        retry = { backoff = "2s", max_backoff = "1m", transient_window = "1h", permanent_window = "10s" }
        classify = [ { status = [409], class = "transient" }, { status = "4xx", body = "duplicate", class = "success" } ]
        [subscriptions.customers-to-crm]
        topics = ["customer.created", "customer.*"]
        client = "crm"
        filter = { attributes = { region = "eu" } }
        "#,
        "test",
    )
    .unwrap();
    assert_eq!(c.server.max_body, 65536);
    let crm = c.client("crm").unwrap();
    assert_eq!(crm.concurrency, 3);
    assert_eq!(crm.timeout, Duration::from_secs(2));
    assert_eq!(crm.retry.permanent_window, SignedDuration::from_secs(10));
    assert_eq!(crm.classify.len(), 2);
    let ClientKind::Http(http) = &crm.kind else {
        panic!("an http client")
    };
    assert_eq!(http.method, "PUT");
    assert_eq!(http.headers, [("x-source".to_owned(), "ferry".to_owned())]);
    assert_eq!(c.subscriptions.len(), 1);
    assert_eq!(
        c.subscriptions[0]
            .filter
            .equals
            .get("region")
            .map(String::as_str),
        Some("eu")
    );
}

#[test]
fn every_problem_is_reported_with_its_toml_path() {
    let found = problems(
        r#"
        [server]
        listen = "nowhere"
        colour = "blue"
        [retention]
        succeeded = "forever"
        [clients.crm]
        url = "ftp://example.com"
        timeout = "soon"
        concurrency = 0
        retry = { backoff = "1m", max_backoff = "1s" }
        classify = [ { status = "6xx", class = "fine" } ]
        [subscriptions.s]
        topics = []
        client = "x"
        "#,
    );
    let expected = [
        "server.colour: unknown key",
        "server.listen: ",
        "retention.succeeded: ",
        "clients.crm.url: must start with http:// or https://",
        "clients.crm.timeout: ",
        "clients.crm.concurrency: must be between 1 and 10000",
        "clients.crm.retry.max_backoff: must not be shorter than backoff",
        "clients.crm.classify.0.class: ",
        "clients.crm.classify.0.status: ",
        "subscriptions.s.topics: must list at least one topic",
        "subscriptions.s.client: unknown client \"x\"",
    ];
    for want in expected {
        assert!(
            found.iter().any(|p| p.starts_with(want)),
            "missing {want:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn unknown_keys_are_errors_at_any_depth() {
    let found = problems(
        r#"
        [clients.crm]
        url = "http://x/"
        retry = { backof = "1s" }
        classify = [ { status = 409, class = "transient", when = "always" } ]
        [subscriptions.s]
        topics = ["a"]
        client = "crm"
        filter = { attributes = {}, tags = [] }
        [extra]
        x = 1
        "#,
    );
    for want in [
        "clients.crm.retry.backof: unknown key",
        "clients.crm.classify.0.when: unknown key",
        "subscriptions.s.filter.tags: unknown key",
        "extra: unknown key",
    ] {
        assert!(
            found.iter().any(|p| p == want),
            "missing {want:?} in {found:#?}"
        );
    }
}

#[test]
fn a_type_mismatch_names_its_path() {
    let found = problems("[clients.crm]\nurl = \"http://x/\"\nconcurrency = \"eight\"\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("clients.crm.concurrency: invalid type"),
        "{found:?}"
    );
}

#[test]
fn broken_toml_is_one_clear_problem() {
    let found = problems("[server\nlisten = 1");
    assert_eq!(found.len(), 1);
    assert!(found[0].starts_with("not valid TOML"), "{found:?}");
}

#[test]
fn templates_are_compiled_at_load() {
    let found = problems("[clients.c]\nurl = \"http://x/{{ event.key \"\nbody = \"{% if %}\"\n");
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("clients.c.url: template does not compile")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.starts_with("clients.c.body: template does not compile")),
        "{found:?}"
    );
}

#[test]
fn auth_kinds_check_their_own_fields() {
    let found = problems(
        "[clients.c]\nurl = \"http://x/\"\nauth = { kind = \"basic\", username = \"u\", token_env = \"T\" }\n",
    );
    assert!(
        found
            .iter()
            .any(|p| p == "clients.c.auth.token_env: does not apply to basic auth"),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p == "clients.c.auth.password_env: is required for basic auth"),
        "{found:?}"
    );
}

#[test]
fn features_of_later_work_are_accepted_and_listed() {
    let c = Config::parse(
        r#"
        [clients.crm]
        url = "http://x/"
        rate = "50/s"
        budget = "10000/h"
        outage = { after_failures = 5, pauses = ["1m", "5m"] }
        [subscriptions.s]
        topics = ["a"]
        client = "crm"
        ordered = true
        "#,
        "test",
    )
    .unwrap();
    let notes = c.not_yet_active.join("\n");
    for key in [
        "clients.crm.rate",
        "clients.crm.budget",
        "clients.crm.outage",
        "subscriptions.s.ordered",
    ] {
        assert!(notes.contains(key), "{key} missing from {notes}");
    }
}

#[test]
fn custom_clients_take_delivery_settings_only() {
    let c = Config::parse(
        "[clients.ftp]\nkind = \"custom\"\nconcurrency = 2\n",
        "test",
    )
    .unwrap();
    assert!(matches!(c.client("ftp").unwrap().kind, ClientKind::Custom));
    let found = problems("[clients.ftp]\nkind = \"custom\"\nurl = \"http://x/\"\n");
    assert_eq!(found, ["clients.ftp.url: only applies to http clients"]);
}
