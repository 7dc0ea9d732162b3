//! temporary stub (replaced by the real crate on merge)
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, net::SocketAddr};
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MockConfig {
    pub latency: Option<String>,
}
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StatsSnapshot {
    pub connections_accepted: u64,
    pub connections_open: u64,
    pub connections_peak: u64,
    pub requests_total: u64,
    pub responses_by_status: BTreeMap<u16, u64>,
}
pub struct MockServer;
pub struct MockHandle;
impl MockServer {
    pub async fn start(_a: SocketAddr, _c: MockConfig) -> std::io::Result<MockHandle> {
        Err(std::io::Error::other("stub"))
    }
}
impl MockHandle {
    pub fn addr(&self) -> SocketAddr {
        unimplemented!()
    }
    pub fn base_url(&self) -> String {
        unimplemented!()
    }
    pub fn stats(&self) -> StatsSnapshot {
        unimplemented!()
    }
    pub fn set_config(&self, _c: MockConfig) {}
    pub async fn shutdown(self) {}
}
