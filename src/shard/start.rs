//! `--start-at`: the common wall-clock time at which every shard starts its load.

use std::time::{Duration, SystemTime};

/// How far in the past a start time may lie and still be accepted (pods start a little late).
pub const PAST_TOLERANCE: Duration = Duration::from_secs(5);
/// How far in the future a start time may lie: beyond this it is almost surely a typo.
pub const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Why a `--start-at` value is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartAtError {
    /// Not an RFC 3339 timestamp.
    #[error(
        "--start-at `{text}` is not an RFC 3339 time ({reason}); write e.g. 2025-01-31T12:00:00Z"
    )]
    Syntax {
        /// What was given.
        text: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Too far in the past.
    #[error("--start-at `{text}` is {ago} s in the past (more than {} s); pick a time a little ahead of when the shards start", PAST_TOLERANCE.as_secs())]
    Past {
        /// What was given.
        text: String,
        /// Seconds ago.
        ago: u64,
    },
    /// Too far in the future.
    #[error("--start-at `{text}` is {ahead} s away, more than 24 h; check the date")]
    TooFar {
        /// What was given.
        text: String,
        /// Seconds ahead.
        ahead: u64,
    },
}

/// Parses `text` and checks it against `now`: at most [`PAST_TOLERANCE`] ago, at most [`MAX_WAIT`] ahead.
pub fn parse_start_at(text: &str, now: SystemTime) -> Result<SystemTime, StartAtError> {
    let at =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map_err(|e| StartAtError::Syntax {
                text: text.into(),
                reason: e.to_string(),
            })?;
    let at = SystemTime::from(at);
    match at.duration_since(now) {
        Ok(ahead) if ahead > MAX_WAIT => Err(StartAtError::TooFar {
            text: text.into(),
            ahead: ahead.as_secs(),
        }),
        Ok(_) => Ok(at),
        Err(e) if e.duration() > PAST_TOLERANCE => Err(StartAtError::Past {
            text: text.into(),
            ago: e.duration().as_secs(),
        }),
        Err(_) => Ok(at),
    }
}

/// Sleeps until `at` (returns at once if it has passed).
pub fn wait_until(at: SystemTime) {
    if let Ok(left) = at.duration_since(SystemTime::now()) {
        std::thread::sleep(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_near_times_and_refuses_far_ones() {
        let now = SystemTime::from(time::macros::datetime!(2025-01-31 12:00:00 UTC));
        let at = parse_start_at("2025-01-31T12:00:10Z", now).unwrap();
        assert_eq!(at.duration_since(now).unwrap(), Duration::from_secs(10));
        assert!(
            parse_start_at("2025-01-31T13:00:10+01:00", now).is_ok(),
            "offsets are honoured"
        );
        assert!(
            parse_start_at("2025-01-31T11:59:58Z", now).is_ok(),
            "a little late is fine"
        );
        let past = parse_start_at("2025-01-31T11:00:00Z", now).unwrap_err();
        assert!(past.to_string().contains("3600 s in the past"), "{past}");
        let far = parse_start_at("2025-02-02T12:00:00Z", now).unwrap_err();
        assert!(far.to_string().contains("more than 24 h"), "{far}");
        let bad = parse_start_at("tomorrow", now).unwrap_err();
        assert!(bad.to_string().contains("not an RFC 3339 time"), "{bad}");
    }
}
