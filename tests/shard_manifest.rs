//! deploy/kubernetes/ holds what its README promises: an Indexed Job whose pods run
//! `relaybench run --shard $(JOB_COMPLETION_INDEX)/N` with N = completions = parallelism, a merge
//! Job on the same volume, and a multi-stage Dockerfile. Checked statically: no cluster or
//! container engine is available to the tests.

use serde::Deserialize;
use serde_norway::Value;

fn read(rel: &str) -> String {
    std::fs::read_to_string(format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn documents(rel: &str) -> Vec<Value> {
    let text = read(rel);
    serde_norway::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap_or_else(|e| panic!("{rel}: not YAML: {e}")))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn shards_job_is_indexed_and_its_shard_count_agrees() {
    let docs = documents("deploy/kubernetes/shards.yaml");
    let job = kind(&docs, "Job");
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let completions = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["parallelism"].as_u64(), Some(completions));
    assert!(completions >= 2);

    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    assert!(!container["image"].as_str().unwrap().is_empty());
    let command = strings(&container["command"]);
    assert_eq!(&command[..2], ["relaybench", "run"]);
    let shard = command
        .iter()
        .position(|a| *a == "--shard")
        .map(|i| command[i + 1])
        .expect("--shard in the command");
    assert_eq!(shard, format!("$(JOB_COMPLETION_INDEX)/{completions}"));
    assert!(command.contains(&"--start-at"));
    let out = command
        .iter()
        .position(|a| *a == "--out")
        .map(|i| command[i + 1])
        .unwrap();
    assert!(
        out.contains("$(JOB_COMPLETION_INDEX)"),
        "each shard writes its own folder"
    );

    // Every $(VAR) in the command is defined in the container's env (else Kubernetes leaves it literal).
    let env: Vec<&str> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    for arg in &command {
        for var in arg.split("$(").skip(1) {
            let name = var.split(')').next().unwrap();
            assert!(env.contains(&name), "$({name}) is not defined in env");
        }
    }

    // Mounts refer to declared volumes; the scenario file comes from the ConfigMap.
    let volumes: Vec<&str> = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    for m in container["volumeMounts"].as_sequence().unwrap() {
        assert!(volumes.contains(&m["name"].as_str().unwrap()));
    }
    let config = kind(&docs, "ConfigMap");
    let scenario_text = config["data"]["scenario.toml"].as_str().unwrap();
    assert!(command.contains(&"/scenario/scenario.toml"));
    relaybench::scenario::parse(std::path::Path::new("scenario.toml"), scenario_text)
        .expect("the shipped scenario is a valid relaybench scenario");
    let pvc = kind(&docs, "PersistentVolumeClaim");
    assert!(strings(&pvc["spec"]["accessModes"]).contains(&"ReadWriteMany"));
}

#[test]
fn merge_job_reads_the_shards_volume() {
    let shards = documents("deploy/kubernetes/shards.yaml");
    let merge = documents("deploy/kubernetes/merge.yaml");
    let claim = |job: &Value| {
        job["spec"]["template"]["spec"]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
            .unwrap()
            .to_string()
    };
    let job = kind(&merge, "Job");
    assert_eq!(claim(job), claim(kind(&shards, "Job")));
    let script = strings(&job["spec"]["template"]["spec"]["containers"][0]["command"]).join(" ");
    assert!(
        script.contains("relaybench merge /results/shard-*/results.json -o /results/merged.json"),
        "{script}"
    );
}

#[test]
fn dockerfile_is_multi_stage_with_a_slim_runtime() {
    let text = read("Dockerfile");
    let froms: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("FROM "))
        .collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(froms[0].contains("rust"), "builds in a Rust image");
    assert!(
        !froms.last().unwrap().contains("rust"),
        "runtime is not the build image"
    );
    assert!(text.contains("cargo build --release --locked --bin relaybench"));
    assert!(text.contains("COPY --from=build"));
    assert!(text.contains("ENTRYPOINT [\"relaybench\"]"));
    let readme = read("deploy/kubernetes/README.md");
    for promised in [
        "completionMode: Indexed",
        "JOB_COMPLETION_INDEX",
        "relaybench merge",
        "--start-at",
    ] {
        assert!(readme.contains(promised), "README explains {promised}");
    }
}
