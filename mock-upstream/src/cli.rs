//! The command line of the mock: [`MockArgs`] (every flag) and [`run`], shared by the
//! `mock-upstream` binary and `relaybench mock` so both accept exactly the same flags.
//!
//! Flags and an optional TOML profile become a [`MockConfig`]; the server runs until
//! SIGINT / SIGTERM and then stops gracefully.

use crate::{Latency, MockConfig, MockServer, TokenCount};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every flag of `mock-upstream` (and `relaybench mock`). Flags override the profile.
#[derive(Args, Debug, Clone)]
pub struct MockArgs {
    /// Address to serve on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// TOML profile: the `[mock]` keys at top level, or a relaybench scenario (its `[mock]` table is used).
    #[arg(long, value_name = "FILE.toml")]
    pub profile: Option<PathBuf>,
    /// Seed for every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Response latency: "20ms", or a TOML table such as '{ dist = "uniform", min = "10ms", max = "30ms" }'.
    #[arg(long, value_parser = parse_latency)]
    pub latency: Option<Latency>,
    /// Extra delay on the first request of each new connection (same forms as --latency).
    #[arg(long, value_parser = parse_latency)]
    pub handshake_delay: Option<Latency>,
    /// Injected error probability, STATUS=P (repeatable): --error-rate 429=0.05 --error-rate 503=0.01.
    #[arg(long, value_name = "STATUS=P", value_parser = parse_error_rate)]
    pub error_rate: Vec<(u16, f64)>,
    /// Retry-After on injected 429/503s.
    #[arg(long, value_parser = parse_duration)]
    pub retry_after: Option<Duration>,
    /// Token-bucket limit on requests per minute.
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Token-bucket limit on tokens per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
    /// At most this many requests served at once.
    #[arg(long)]
    pub max_concurrent: Option<u32>,
    /// Beyond --max-concurrent, queue up to this many, then 503.
    #[arg(long)]
    pub max_queue: Option<u32>,
    /// Probability of a TCP reset mid-response.
    #[arg(long)]
    pub reset_rate: Option<f64>,
    /// Probability of never answering.
    #[arg(long)]
    pub hang_rate: Option<f64>,
    /// Probability of a truncated body.
    #[arg(long)]
    pub truncate_rate: Option<f64>,
    /// Probability of a slow body.
    #[arg(long)]
    pub slow_body_rate: Option<f64>,
    /// Bytes per second of a slow body.
    #[arg(long)]
    pub slow_body_bps: Option<u64>,
    /// Probability of cutting a stream mid-way.
    #[arg(long)]
    pub stream_cut_rate: Option<f64>,
    /// Probability of an in-stream error event mid-way through a stream.
    #[arg(long)]
    pub stream_error_rate: Option<f64>,
    /// Reasoning tokens before each answer: 200, or '{ dist = "uniform", min = 50, max = 400 }'.
    #[arg(long, value_parser = parse_tokens)]
    pub reasoning_tokens: Option<TokenCount>,
    /// Report usage this fraction higher than the true counts (0.2: 20 % overbilling).
    #[arg(long, value_name = "F")]
    pub usage_inflation: Option<f64>,
    /// Close each keep-alive connection after N responses.
    #[arg(long, value_name = "N")]
    pub close_after: Option<u64>,
    /// Streaming: time to first token (same forms as --latency).
    #[arg(long, value_parser = parse_latency)]
    pub ttft: Option<Latency>,
    /// Streaming: delay between tokens (same forms as --latency).
    #[arg(long, value_parser = parse_latency)]
    pub inter_token: Option<Latency>,
    /// Completion length in tokens: 64, or '{ dist = "uniform", min = 16, max = 256 }'.
    #[arg(long, value_parser = parse_tokens)]
    pub output_tokens: Option<TokenCount>,
    /// Models served, comma-separated; an empty string accepts any model.
    #[arg(long)]
    pub models: Option<String>,
    /// Embedding vector length.
    #[arg(long)]
    pub embedding_dim: Option<usize>,
    /// Largest request body in bytes.
    #[arg(long)]
    pub body_limit: Option<u64>,
    /// Require `Authorization: Bearer KEY` on API routes.
    #[arg(long, value_name = "KEY")]
    pub require_key: Option<String>,
    /// Do not serve /_mock/* at all.
    #[arg(long)]
    pub no_control: bool,
    /// Serve /_mock/* on this address instead of --listen.
    #[arg(long)]
    pub control_listen: Option<SocketAddr>,
    /// Runtime threads; 1 runs everything on one thread (least overhead when the load
    /// generator shares a small machine). Default: one per core available (tokio's default:
    /// `available_parallelism`, or `TOKIO_WORKER_THREADS` when set).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Log filter (RUST_LOG syntax); "debug" logs one line per injected fault.
    #[arg(long, default_value = "info")]
    pub log: String,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::units::parse(s)
}

fn parse_inline<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    #[derive(serde::Deserialize)]
    struct V<T> {
        v: T,
    }
    let quoted = if s.trim_start().starts_with('{') || s.trim().parse::<f64>().is_ok() {
        s.to_string()
    } else {
        format!("{s:?}")
    };
    toml::from_str::<V<T>>(&format!("v = {quoted}"))
        .map(|h| h.v)
        .map_err(|e| e.message().to_string())
}

fn parse_latency(s: &str) -> Result<Latency, String> {
    parse_inline(s)
}

fn parse_tokens(s: &str) -> Result<TokenCount, String> {
    parse_inline(s)
}

fn parse_error_rate(s: &str) -> Result<(u16, f64), String> {
    let (status, p) = s
        .split_once('=')
        .ok_or("expected STATUS=P, e.g. 429=0.05")?;
    let status = status
        .trim()
        .parse()
        .map_err(|_| format!("{status:?} is not a status code"))?;
    let p = p
        .trim()
        .parse()
        .map_err(|_| format!("{p:?} is not a probability"))?;
    Ok((status, p))
}

fn build_config(cli: &MockArgs) -> Result<MockConfig> {
    let mut c = match &cli.profile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading profile {}", path.display()))?;
            MockConfig::from_toml_str(&text, Some(&path.display().to_string()))?
        }
        None => MockConfig::default(),
    };
    macro_rules! set {
        ($flag:expr => $($field:tt)+) => {
            if let Some(v) = $flag.clone() {
                c.$($field)+ = v;
            }
        };
    }
    set!(cli.seed.map(Some) => seed);
    set!(cli.latency => latency);
    set!(cli.handshake_delay => handshake_delay);
    set!(cli.retry_after => retry_after);
    set!(cli.rpm.map(Some) => rate_limit.requests_per_minute);
    set!(cli.tpm.map(Some) => rate_limit.tokens_per_minute);
    set!(cli.max_concurrent.map(Some) => capacity.max_concurrent);
    set!(cli.max_queue => capacity.max_queue);
    set!(cli.reset_rate => faults.reset);
    set!(cli.hang_rate => faults.hang);
    set!(cli.truncate_rate => faults.truncate);
    set!(cli.slow_body_rate => faults.slow_body);
    set!(cli.slow_body_bps => faults.slow_body_rate);
    set!(cli.stream_cut_rate => faults.stream_cut);
    set!(cli.stream_error_rate => faults.stream_error);
    set!(cli.reasoning_tokens => reasoning.tokens);
    set!(cli.usage_inflation => usage_inflation);
    set!(cli.close_after.map(Some) => faults.close_after_requests);
    set!(cli.ttft => stream.ttft);
    set!(cli.inter_token => stream.inter_token);
    set!(cli.output_tokens => output_tokens);
    set!(cli.embedding_dim => embedding_dim);
    set!(cli.body_limit => body_limit);
    set!(cli.require_key.clone().map(Some) => require_key);
    set!(cli.control_listen.map(Some) => control.listen);
    if let Some(m) = &cli.models {
        c.models = m
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
    }
    for (status, p) in &cli.error_rate {
        let map: std::collections::BTreeMap<String, f64> = [(status.to_string(), *p)].into();
        let one = crate::ErrorRates::try_from(map)
            .map_err(anyhow::Error::msg)
            .context("--error-rate")?;
        c.errors = c.errors.clone().with(*status, one.get(*status));
    }
    if cli.no_control {
        if cli.control_listen.is_some() {
            bail!("--no-control and --control-listen contradict each other");
        }
        c.control.enabled = false;
    }
    c.validate()?;
    Ok(c)
}

/// Serves until SIGINT / SIGTERM and returns the process exit code: 0 after a clean stop,
/// 2 for a bad flag or profile, 1 when the runtime cannot start or the address cannot be bound.
/// Builds its own runtime, so call it from synchronous code (a `main`).
pub fn run(args: MockArgs) -> u8 {
    let runtime = match args.workers {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n.max(1))
            .enable_all()
            .build(),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mock-upstream: starting the runtime: {e}");
            return 1;
        }
    };
    runtime.block_on(serve(args))
}

async fn serve(args: MockArgs) -> u8 {
    // try_init: when embedded (`relaybench mock`) a subscriber may already be installed.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log)),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mock-upstream: {e:#}");
            return 2;
        }
    };
    let handle = match MockServer::start(args.listen, config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("mock-upstream: binding {}: {e:#}", args.listen);
            return 1;
        }
    };
    println!("mock-upstream listening on {}", handle.base_url());
    if let Some(c) = handle.control_addr() {
        println!("control: http://{c}/_mock/faults, /_mock/stats, /_mock/metrics, /_mock/reset");
    }
    wait_for_stop().await;
    handle.shutdown().await;
    0
}

async fn wait_for_stop() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
