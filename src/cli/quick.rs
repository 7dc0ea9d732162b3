//! `relaybench quick URL`: an ad-hoc run from oha-style flags, turned into a one-target scenario so it gets the same outputs as `run`.

use crate::{
    client::{ClientSettings, Http1Engine, HttpVersion},
    scenario::{LoadModel, OnOverload, RequestKind, RequestTemplate, Scenario, Target, Workload},
    units::Dur,
};
use std::collections::BTreeMap;

/// `--on-overload` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OverloadArg {
    /// Wait for a free in-flight slot.
    Queue,
    /// Count the arrival as dropped.
    Drop,
}

/// Flags of `quick`, named as in oha (and hey).
#[derive(clap::Args, Debug, Clone)]
pub struct QuickArgs {
    /// The URL to load (http:// or https://), e.g. http://127.0.0.1:8080/v1/models.
    pub url: String,
    /// Concurrent users (closed model), or the in-flight cap with -q.
    #[arg(short = 'c', default_value_t = 50)]
    pub users: usize,
    /// Number of requests (default 200 when -z is not given).
    #[arg(short = 'n')]
    pub requests: Option<u64>,
    /// Duration, e.g. 10s (stops at whichever of -n and -z comes first).
    #[arg(short = 'z')]
    pub duration: Option<Dur>,
    /// Rate in requests per second: switches to the open model (constant rate).
    #[arg(short = 'q')]
    pub rate: Option<f64>,
    /// With -q, what happens to an arrival when -c requests are already in flight: `queue`
    /// (wait for a slot, timed from its intended start) or `drop` (count it, never send it).
    #[arg(long, value_enum, default_value = "queue")]
    pub on_overload: OverloadArg,
    /// Warm-up at the start, e.g. 1s: its requests (and the cold pool's connection set-up)
    /// are counted apart and left out of the statistics. Added before -z and -n, as in scenarios.
    #[arg(long)]
    pub warmup: Option<Dur>,
    /// HTTP method.
    #[arg(short = 'm', default_value = "GET")]
    pub method: String,
    /// Extra header "Name: value" (repeatable).
    #[arg(short = 'H')]
    pub headers: Vec<String>,
    /// Request body.
    #[arg(short = 'd')]
    pub body: Option<String>,
    /// Use HTTP/2 (h2c prior knowledge on http://, ALPN on https://).
    #[arg(long)]
    pub http2: bool,
    /// Which implementation speaks HTTP/1.1: relaybench (its own, the default) or hyper
    /// (hyper's client connection, for a second opinion).
    #[arg(long, value_name = "relaybench|hyper", default_value = "relaybench")]
    pub engine: Http1Engine,
    /// Hard cap on open connections (default: -c).
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Per-request deadline across all attempts, e.g. 30s.
    #[arg(short = 't', long)]
    pub timeout: Option<Dur>,
    /// Per-request latency SLO, e.g. 200ms: requests that end ok within it (from their intended
    /// start) are good, reported as goodput beside the rest.
    #[arg(long, value_name = "DUR")]
    pub slo_latency: Option<Dur>,
    /// Retries (default 0, as in oha).
    #[arg(long, default_value_t = 0)]
    pub retries: u32,
    /// Generator threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Accept invalid TLS certificates (test servers only).
    #[arg(long)]
    pub insecure: bool,
}

/// Builds the scenario `quick` runs.
pub fn scenario(args: &QuickArgs) -> Result<Scenario, String> {
    let origin = crate::client::Origin::parse(&args.url)?;
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|e| format!("`{}`: {e}", args.url))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut headers = BTreeMap::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("-H `{h}`: expected \"Name: value\""))?;
        headers.insert(name.trim().to_string(), value.trim().to_string());
    }
    let requests = match (args.requests, args.duration) {
        (None, None) => Some(200),
        (n, _) => n,
    };
    let open = args.rate.is_some();
    let workload = Workload {
        model: if open {
            LoadModel::Constant
        } else {
            LoadModel::Closed
        },
        users: (!open).then_some(args.users.max(1)),
        think_time: Dur::default(),
        rate: args.rate,
        start_rate: 0.0,
        start_users: 0,
        stages: Vec::new(),
        max_in_flight: open.then_some(args.users.max(1) as u64),
        on_overload: match args.on_overload {
            OverloadArg::Queue => OnOverload::Queue,
            OverloadArg::Drop => OnOverload::Drop,
        },
        max_queue: crate::load::overload::DEFAULT_MAX_QUEUE,
        // An open model needs a schedule length: with only -n, run long enough to issue them all.
        duration: args.duration.or_else(|| match (open, requests, args.rate) {
            (true, Some(n), Some(rate)) if rate > 0.0 => Some(Dur(
                std::time::Duration::from_secs_f64(n as f64 / rate + 1.0),
            )),
            _ => None,
        }),
        requests,
        warmup: args.warmup.unwrap_or_default(),
        grace: Dur::secs(5),
        threads: args.threads,
        stop_on_saturation: false,
        saturation_window: crate::load::saturation::DEFAULT_WINDOW,
        segment: None,
        mix: vec![RequestTemplate {
            kind: RequestKind::Http,
            weight: 1,
            stream: false,
            max_tokens: None,
            prompts: Vec::new(),
            prompts_file: None,
            file_prompts: Vec::new(),
            method: Some(args.method.clone()),
            path: Some(path),
            body: args.body.clone(),
            headers,
            expect_status: None,
            expect_body_contains: None,
            ..RequestTemplate::default()
        }],
    };
    let mut client = ClientSettings {
        max_connections: args.max_connections.unwrap_or(args.users.max(1)),
        insecure: args.insecure,
        ..ClientSettings::default()
    };
    client.max_idle_connections = client.max_connections;
    client.http = if args.http2 {
        HttpVersion::Http2
    } else {
        HttpVersion::Http1
    };
    client.engine = args.engine;
    client.retry.max_retries = args.retries;
    client.timeouts.deadline = args.timeout;
    // Ad-hoc runs measure the upstream as it is; a breaker would hide its failures.
    client.breaker.enabled = false;
    let base = format!(
        "{}://{}",
        if origin.tls { "https" } else { "http" },
        origin.authority()
    );
    Ok(Scenario {
        name: Some("quick".into()),
        description: Some(format!("{} {}", args.method, args.url)),
        targets: vec![Target {
            name: origin.authority(),
            url: Some(base),
            mock: None,
            api_key_env: None,
            api: Default::default(),
            tokenizer: None,
            headers: BTreeMap::new(),
            model: "none".into(),
            max_requests: None,
            max_cost_usd: None,
            metrics_url: None,
            metrics: Vec::new(),
        }],
        workload,
        client,
        matrix: None,
        variants: Vec::new(),
        pricing: Default::default(),
        report: Default::default(),
        thresholds: Vec::new(),
        search: None,
        slo: crate::metrics::Slo {
            latency: args.slo_latency,
            ..Default::default()
        },
    })
}
