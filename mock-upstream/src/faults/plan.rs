//! A request's fate: one uniform roll against the profile's error and fault probabilities.

use crate::config::{ConnectionFaults, ErrorRates};

/// What happens to one API request, decided before it is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Served normally.
    Healthy,
    /// An injected error with this status.
    Error(u16),
    /// Headers and part of the body, then a TCP reset.
    Reset,
    /// Never answered.
    Hang,
    /// Half the declared body, then close.
    Truncate,
    /// Body paced at the slow rate.
    SlowBody,
    /// Stream stops halfway, connection closed.
    StreamCut,
    /// An error event halfway through the stream, in the protocol's shape.
    StreamError,
}

/// Maps `roll` (uniform in [0,1)) to a fate. Faults that do not apply to this kind of
/// request (a stream cut on a JSON reply, a slow body on a stream) leave it healthy.
pub(crate) fn decide(
    roll: f64,
    errors: &ErrorRates,
    faults: &ConnectionFaults,
    streaming: bool,
) -> Fate {
    let mut edge = 0.0;
    for (status, p) in errors.iter() {
        edge += p;
        if roll < edge {
            return Fate::Error(status);
        }
    }
    let transport = [
        (faults.reset, Fate::Reset),
        (faults.hang, Fate::Hang),
        (faults.truncate, Fate::Truncate),
        (faults.slow_body, Fate::SlowBody),
        (faults.stream_cut, Fate::StreamCut),
        (faults.stream_error, Fate::StreamError),
    ];
    for (p, fate) in transport {
        edge += p;
        if roll < edge {
            return match (fate, streaming) {
                (Fate::Truncate | Fate::SlowBody, true)
                | (Fate::StreamCut | Fate::StreamError, false) => Fate::Healthy,
                _ => fate,
            };
        }
    }
    Fate::Healthy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolls_map_to_cumulative_intervals() {
        let errors = ErrorRates::none().with(429, 0.1).with(503, 0.2);
        let faults = ConnectionFaults {
            reset: 0.1,
            stream_cut: 0.1,
            stream_error: 0.1,
            ..Default::default()
        };
        assert_eq!(decide(0.05, &errors, &faults, false), Fate::Error(429));
        assert_eq!(decide(0.25, &errors, &faults, false), Fate::Error(503));
        assert_eq!(decide(0.35, &errors, &faults, false), Fate::Reset);
        assert_eq!(decide(0.45, &errors, &faults, true), Fate::StreamCut);
        assert_eq!(decide(0.45, &errors, &faults, false), Fate::Healthy);
        assert_eq!(decide(0.55, &errors, &faults, true), Fate::StreamError);
        assert_eq!(decide(0.55, &errors, &faults, false), Fate::Healthy);
        assert_eq!(decide(0.99, &errors, &faults, false), Fate::Healthy);
    }
}
