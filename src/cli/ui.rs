//! The `--ui [ADDR]` and `--ui-exit` flags shared by `run`, `quick` and `search`.

use crate::live;
use std::net::SocketAddr;

/// Live dashboard flags.
#[derive(clap::Args, Debug, Default, Clone, Copy)]
pub struct UiArgs {
    /// Serve a live dashboard and Prometheus /metrics on ADDR while running, then the final
    /// report until Ctrl-C. Without ADDR: 127.0.0.1 and a free port (the URL is printed at
    /// start). ADDR may be a port alone (loopback). Put it after the scenario, or write --ui=ADDR.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, require_equals = false,
          default_missing_value = live::DEFAULT_ADDR, value_parser = parse_addr)]
    pub ui: Option<SocketAddr>,
    /// With --ui: exit when the run ends, as without --ui, instead of serving the report until Ctrl-C.
    #[arg(long, requires = "ui")]
    pub ui_exit: bool,
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| {
        format!("`{text}` is not an address like 127.0.0.1:8080 (or a port); if it is the scenario, put it before --ui or write --ui=ADDR")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_ports_and_mistakes() {
        assert_eq!(parse_addr("9100").unwrap().to_string(), "127.0.0.1:9100");
        assert_eq!(parse_addr("[::1]:0").unwrap().to_string(), "[::1]:0");
        let e = parse_addr("scenarios/quickstart.toml").unwrap_err();
        assert!(e.contains("put it before --ui"), "{e}");
    }
}
