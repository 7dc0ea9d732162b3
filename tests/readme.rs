//! The README's examples are real: its scenario example validates and its two set-up commands exist.

mod util;
use util::{repo_root, text, Session};

fn readme() -> String {
    std::fs::read_to_string(repo_root().join("README.md")).unwrap()
}

#[test]
fn the_scenario_example_in_the_readme_validates() {
    let readme = readme();
    let start = readme
        .find("```toml\nname = \"my-relay\"")
        .expect("README has the full scenario example");
    let body = &readme[start + "```toml\n".len()..];
    let example = &body[..body.find("```").unwrap()];
    let s = Session::new();
    let file = s.write("example.toml", example);
    let out = s.relaybench(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(
        plan.contains("16 run(s)"),
        "2 targets × 8 matrix variants: {plan}"
    );
    assert!(
        plan.contains(
            "mix[1]: GET /v1/models is ok when status 200 and body contains \"gpt-4o\" (else bad_response)"
        ),
        "validate shows the http checks: {plan}"
    );
}

#[test]
fn the_readme_names_the_two_setup_commands_and_ci_runs_the_test_one() {
    let readme = readme();
    assert!(readme.contains("cargo run --release -- run scenarios/quickstart.toml"));
    assert!(readme.contains("bash scripts/test.sh"));
    let ci = std::fs::read_to_string(repo_root().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "bash scripts/test.sh"),
        ".ci/run runs exactly the README's test command"
    );
}
