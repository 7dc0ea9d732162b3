//! The axum routes of `--ui`: the dashboard page, its server-sent events, `/metrics`, and after the run the report's files.

use super::{board::Board, prometheus};
use axum::{
    extract::{Path as UrlPath, State},
    http::{header, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        Html, IntoResponse, Response,
    },
    routing::get,
    Router,
};
use std::{
    convert::Infallible,
    path::PathBuf,
    sync::{Arc, Mutex, MutexGuard},
};
use tokio::sync::watch;

/// The dashboard: one self-contained page (inline CSS and JS, nothing fetched but `/events`).
const DASHBOARD: &str = include_str!("dashboard.html");

/// What the handlers share with the CLI that updates the board.
pub(super) struct Shared {
    /// The figures shown.
    pub board: Arc<Mutex<Board>>,
    /// Bumped on every board update; each `/events` stream waits on it.
    pub tick: watch::Sender<u64>,
    /// The report folder, once written.
    pub report: Mutex<Option<PathBuf>>,
}

impl Shared {
    pub fn lock_board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn lock_report(&self) -> MutexGuard<'_, Option<PathBuf>> {
        self.report.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn board_json(&self) -> String {
        serde_json::to_string(&*self.lock_board()).unwrap_or_else(|_| "{}".into())
    }
}

/// Serves until the process exits.
pub(super) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    let app = Router::new()
        .route("/", get(index))
        .route("/live", get(|| async { Html(DASHBOARD) }))
        .route("/events", get(events))
        .route("/metrics", get(metrics))
        .route("/board.json", get(board_json))
        // Browsers ask for it; a 404 would be logged as a failed load on the dashboard.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/*path", get(report_file))
        .with_state(shared);
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("warning: --ui server stopped: {e}");
    }
}

async fn index(State(shared): State<Arc<Shared>>) -> Response {
    match report_path(&shared, "report.html") {
        Some(path) => file(path).await,
        None => Html(DASHBOARD).into_response(),
    }
}

/// The board as JSON now, then after every update.
async fn events(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let rx = shared.tick.subscribe();
    let stream =
        futures_util::stream::unfold((shared, rx, true), |(shared, mut rx, first)| async move {
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let event = Event::default().data(shared.board_json());
            Some((Ok::<_, Infallible>(event), (shared, rx, false)))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        prometheus::render(&shared.board),
    )
}

async fn board_json(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        shared.board_json(),
    )
}

async fn report_file(
    State(shared): State<Arc<Shared>>,
    UrlPath(path): UrlPath<String>,
) -> Response {
    match report_path(&shared, &path) {
        Some(p) => file(p).await,
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `rel` inside the report folder, when the report is written and `rel` stays inside it.
fn report_path(shared: &Shared, rel: &str) -> Option<PathBuf> {
    let dir = shared.lock_report().clone()?;
    let rel = std::path::Path::new(rel);
    let inside = rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    inside.then(|| dir.join(rel))
}

async fn file(path: PathBuf) -> Response {
    let kind = match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        Some("md") | Some("hlog") | Some("xml") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_files_are_served_from_inside_the_report_folder_only() {
        let shared = Shared {
            board: Arc::new(Mutex::new(Board::default())),
            tick: watch::channel(0).0,
            report: Mutex::new(None),
        };
        assert_eq!(report_path(&shared, "report.html"), None, "no report yet");
        *shared.lock_report() = Some(PathBuf::from("/reports/run"));
        assert_eq!(
            report_path(&shared, "charts/latency.png"),
            Some(PathBuf::from("/reports/run/charts/latency.png"))
        );
        for outside in ["../live.toml", "charts/../../x", "/etc/passwd", "./x"] {
            assert_eq!(report_path(&shared, outside), None, "{outside}");
        }
    }
}
