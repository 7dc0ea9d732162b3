//! Requested against received token lengths, time to first token per shared-prefix group, and latency and TTFT per conversation turn, recorded per request into small histograms.

use super::histogram::{encode, new_histogram, record_clamped, StoredHistogram, Summary};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// What a generated request asked for; carried from its pre-built form to its record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Requested {
    /// Tokens of the user message (`input_tokens`, prefix included).
    pub input: Option<u32>,
    /// Output tokens asked for (`output_tokens`, sent as `max_tokens`).
    pub output: Option<u32>,
    /// The shared prefix it starts with (`prefix_groups`), 0-based.
    pub group: Option<u16>,
    /// Its turn in a conversation (`turns`), 1-based.
    pub turn: Option<u16>,
}

/// One turn index's requests across sessions.
#[derive(Clone)]
struct TurnRecorder {
    count: u64,
    ok: u64,
    latency: Histogram<u64>,
    ttft: Histogram<u64>,
}

impl Default for TurnRecorder {
    fn default() -> Self {
        TurnRecorder {
            count: 0,
            ok: 0,
            latency: new_histogram(),
            ttft: new_histogram(),
        }
    }
}

/// One worker's length histograms (token counts, not µs).
#[derive(Clone, Default)]
pub struct LengthRecorder {
    /// Input tokens asked for.
    requested_input: Option<Histogram<u64>>,
    /// Output tokens asked for.
    requested_output: Option<Histogram<u64>>,
    /// Output tokens received (the answer's count as `tokens.output` has it), requests that asked for a length.
    received_output: Option<Histogram<u64>>,
    /// TTFT (µs) per prefix group, indexed by group.
    ttft_by_group: Vec<Histogram<u64>>,
    /// Per conversation turn, indexed by turn − 1.
    by_turn: Vec<TurnRecorder>,
    /// Sessions that ran all their turns, and sessions that ended early.
    sessions: [u64; 2],
}

/// The turn's slot, grown on first use (turns are bounded when the scenario is read).
fn turn_slot(by_turn: &mut Vec<TurnRecorder>, turn: u16) -> &mut TurnRecorder {
    let index = usize::from(turn.max(1) - 1);
    if by_turn.len() <= index {
        by_turn.resize_with(index + 1, TurnRecorder::default);
    }
    &mut by_turn[index]
}

fn put(slot: &mut Option<Histogram<u64>>, value: u64) {
    record_clamped(slot.get_or_insert_with(new_histogram), value);
}

impl LengthRecorder {
    /// Records what a finished request asked for (every outcome but `cancelled`).
    pub fn note_requested(&mut self, requested: Requested) {
        if let Some(input) = requested.input {
            put(&mut self.requested_input, input.into());
        }
        if let Some(output) = requested.output {
            put(&mut self.requested_output, output.into());
        }
    }

    /// Records a finished conversation turn (every outcome but `cancelled`): its latency (µs).
    pub fn note_turn(&mut self, turn: u16, latency: u64, ok: bool) {
        let slot = turn_slot(&mut self.by_turn, turn);
        slot.count += 1;
        slot.ok += u64::from(ok);
        record_clamped(&mut slot.latency, latency);
    }

    /// Counts a session that ran all its turns, or one that ended early.
    pub fn note_session(&mut self, completed: bool) {
        self.sessions[usize::from(!completed)] += 1;
    }

    /// Records what an `ok` answer to such a request carried: its output tokens and its TTFT (µs) if streamed.
    pub fn note_received(&mut self, requested: Requested, output: u64, ttft: Option<u64>) {
        if requested.output.is_some() || requested.input.is_some() {
            put(&mut self.received_output, output);
        }
        if let (Some(group), Some(ttft)) = (requested.group, ttft) {
            let group = usize::from(group);
            if self.ttft_by_group.len() <= group {
                self.ttft_by_group.resize_with(group + 1, new_histogram);
            }
            record_clamped(&mut self.ttft_by_group[group], ttft);
        }
        if let (Some(turn), Some(ttft)) = (requested.turn, ttft) {
            record_clamped(&mut turn_slot(&mut self.by_turn, turn).ttft, ttft);
        }
    }

    /// Adds another worker's histograms.
    pub fn merge(&mut self, other: &LengthRecorder) {
        let pairs = [
            (&mut self.requested_input, &other.requested_input),
            (&mut self.requested_output, &other.requested_output),
            (&mut self.received_output, &other.received_output),
        ];
        for (mine, theirs) in pairs {
            if let Some(theirs) = theirs {
                let _ = mine.get_or_insert_with(new_histogram).add(theirs);
            }
        }
        if self.ttft_by_group.len() < other.ttft_by_group.len() {
            self.ttft_by_group
                .resize_with(other.ttft_by_group.len(), new_histogram);
        }
        for (mine, theirs) in self.ttft_by_group.iter_mut().zip(&other.ttft_by_group) {
            let _ = mine.add(theirs);
        }
        if self.by_turn.len() < other.by_turn.len() {
            self.by_turn
                .resize_with(other.by_turn.len(), TurnRecorder::default);
        }
        for (mine, theirs) in self.by_turn.iter_mut().zip(&other.by_turn) {
            mine.count += theirs.count;
            mine.ok += theirs.ok;
            let _ = mine.latency.add(&theirs.latency);
            let _ = mine.ttft.add(&theirs.ttft);
        }
        self.sessions[0] += other.sessions[0];
        self.sessions[1] += other.sessions[1];
    }

    /// Per conversation turn for results.json (empty without conversations).
    pub fn by_turn(&self) -> Vec<TurnStats> {
        self.by_turn
            .iter()
            .enumerate()
            .map(|(i, t)| TurnStats {
                turn: i as u32 + 1,
                count: t.count,
                ok: t.ok,
                latency: StoredHistogram::micros(&t.latency),
                ttft: StoredHistogram::micros(&t.ttft),
            })
            .collect()
    }

    /// Sessions for results.json, when any ran.
    pub fn sessions(&self) -> Option<Sessions> {
        let [completed, ended_early] = self.sessions;
        (completed + ended_early > 0).then_some(Sessions {
            completed,
            ended_early,
        })
    }

    /// The lengths for results.json, when any request asked for one.
    pub fn token_lengths(&self) -> Option<TokenLengths> {
        let stored = |h: &Option<Histogram<u64>>| h.as_ref().map(tokens);
        let lengths = TokenLengths {
            requested_input: stored(&self.requested_input),
            requested_output: stored(&self.requested_output),
            received_output: stored(&self.received_output),
        };
        (lengths != TokenLengths::default()).then_some(lengths)
    }

    /// TTFT per prefix group for results.json (empty without groups or streams).
    pub fn ttft_by_prefix_group(&self) -> Vec<StoredHistogram> {
        self.ttft_by_group
            .iter()
            .map(StoredHistogram::micros)
            .collect()
    }
}

/// A histogram of token counts as stored: summary in tokens.
fn tokens(h: &Histogram<u64>) -> StoredHistogram {
    StoredHistogram {
        unit: "tokens".into(),
        summary: Summary::scaled(h, 1.0),
        hdr: encode(h),
        clamped: 0,
    }
}

/// Requested and received token lengths of a run's generated requests (`input_tokens`, `output_tokens`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TokenLengths {
    /// Tokens of the user message asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_input: Option<StoredHistogram>,
    /// Output tokens asked for (`max_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_output: Option<StoredHistogram>,
    /// Output tokens received (`ok` answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_output: Option<StoredHistogram>,
}

/// One conversation turn index's requests across a run's sessions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnStats {
    /// The turn, 1-based.
    pub turn: u32,
    /// Requests of this turn that finished (every outcome but `cancelled`).
    pub count: u64,
    /// Of them, `ok`.
    pub ok: u64,
    /// Their latency (ms).
    pub latency: StoredHistogram,
    /// TTFT of the streamed `ok` ones (ms).
    pub ttft: StoredHistogram,
}

/// How a run's conversation sessions ended (sessions started after warm-up).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions {
    /// Sessions that ran all their turns.
    pub completed: u64,
    /// Sessions ended early: a turn that failed, the run's end or its request bound.
    pub ended_early: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_groups_merge_across_workers() {
        let asked = Requested {
            input: Some(100),
            output: Some(20),
            group: Some(2),
            turn: None,
        };
        let mut a = LengthRecorder::default();
        a.note_requested(asked);
        a.note_received(asked, 20, Some(1500));
        let mut b = LengthRecorder::default();
        b.note_requested(Requested {
            group: Some(0),
            ..asked
        });
        b.note_received(
            Requested {
                group: Some(0),
                ..asked
            },
            19,
            Some(900),
        );
        a.merge(&b);
        let l = a.token_lengths().unwrap();
        assert_eq!(l.requested_input.unwrap().summary.count, 2);
        let received = l.received_output.unwrap().summary;
        assert_eq!((received.min, received.max), (19.0, 20.0));
        let groups = a.ttft_by_prefix_group();
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[1].summary.count, 0);
        assert_eq!(groups[2].summary.count, 1);
        assert!(LengthRecorder::default().token_lengths().is_none());
    }
}
