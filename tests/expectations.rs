//! `expect_status` and `expect_body_contains` of an `http` mix entry, end to end through the
//! runner against mock-upstream's `/v1/models`: a passing check is `ok`, a failing one
//! `bad_response` with expected vs got in the error samples, counted against the mock's own
//! count of the 200s it sent; and a scenario that misplaces a check is refused naming the key.

mod util;

use mock_upstream::{MockConfig, MockServer};
use std::path::Path;

/// Runs 20 requests of one `http` mix entry (`checks` are its extra lines) against a fresh
/// mock; returns the run and how many 200s the mock sent.
async fn run_models(checks: &str) -> (relaybench::metrics::RunResult, u64) {
    let mock = MockServer::start("127.0.0.1:0".parse().unwrap(), MockConfig::default())
        .await
        .unwrap();
    let r = util::run_first(&format!(
        r#"
[[target]]
name = "m"
url = "{}"
[workload]
users = 2
requests = 20
[[workload.mix]]
kind = "http"
path = "/v1/models"
{checks}
[client.retry]
max_retries = 0
[client.breaker]
enabled = false
"#,
        mock.base_url()
    ))
    .await;
    let sent_200 = mock.stats().responses_by_status.get(&200).copied();
    mock.shutdown().await;
    (r, sent_200.unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passing_checks_are_ok_and_failing_ones_bad_responses_saying_why() {
    let (r, sent) =
        run_models("expect_status = [200, 204]\nexpect_body_contains = \"mock-1\"").await;
    assert_eq!((r.count("ok"), sent), (20, 20), "{:?}", r.outcomes);

    let (r, sent) = run_models("expect_status = 204").await;
    assert_eq!(
        (r.count("bad_response"), sent),
        (20, 20),
        "{:?}",
        r.outcomes
    );
    assert_eq!(
        r.error_samples["bad_response"],
        "expected status 204, got 200"
    );

    let (r, sent) = run_models("expect_body_contains = \"gpt-5-turbo\"").await;
    assert_eq!(
        (r.count("bad_response"), sent),
        (20, 20),
        "{:?}",
        r.outcomes
    );
    let sample = &r.error_samples["bad_response"];
    assert!(
        sample.starts_with(
            "expected the body to contain \"gpt-5-turbo\"; it began: {\"object\":\"list\""
        ),
        "{sample}"
    );

    // No checks: any 2xx is success, as before.
    let (r, sent) = run_models("").await;
    assert_eq!((r.count("ok"), sent), (20, 20), "{:?}", r.outcomes);
}

fn rejected(mix: &str) -> String {
    let text = format!(
        "[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nusers = 1\nrequests = 1\n[[workload.mix]]\n{mix}\n"
    );
    relaybench::scenario::parse(Path::new("s.toml"), &text)
        .expect_err("the scenario is refused")
        .to_string()
}

#[test]
fn misplaced_or_impossible_checks_are_refused_naming_the_key() {
    let e = rejected("kind = \"chat\"\nexpect_status = 200");
    assert!(e.contains("s.toml:9"), "{e}");
    assert!(e.contains("`workload.mix[0].expect_status`"), "{e}");
    assert!(e.contains("checked by its protocol"), "{e}");
    let e = rejected("kind = \"embeddings\"\nexpect_body_contains = \"x\"");
    assert!(e.contains("`workload.mix[0].expect_body_contains`"), "{e}");
    let e = rejected("kind = \"http\"\nexpect_status = 404");
    assert!(e.contains("s.toml:9:17"), "{e}");
    assert!(e.contains("`404` is not a 2xx status"), "{e}");
    let e = rejected("kind = \"http\"\nexpect_status = [200, 302]");
    assert!(e.contains("`302` is not a 2xx status"), "{e}");
    let e = rejected("kind = \"http\"\nexpect_status = []");
    assert!(e.contains("an empty list would accept nothing"), "{e}");
    let e = rejected("kind = \"http\"\nexpect_status = \"200\"");
    assert!(
        e.contains("a status like `200` or a list like `[200, 204]`"),
        "{e}"
    );
    let e = rejected("kind = \"http\"\nexpect_body_contains = \"\"");
    assert!(e.contains("an empty text is in every body"), "{e}");
}
