//! Generated text: deterministic words from a seed, and the rough token counting the mock uses (≈ 4 characters per token).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const WORDS: [&str; 64] = [
    "the",
    "pool",
    "relay",
    "token",
    "latency",
    "stream",
    "request",
    "answer",
    "model",
    "upstream",
    "queue",
    "socket",
    "retry",
    "budget",
    "circuit",
    "breaker",
    "percentile",
    "handshake",
    "timeout",
    "gateway",
    "server",
    "client",
    "bench",
    "mock",
    "load",
    "rate",
    "limit",
    "window",
    "bucket",
    "burst",
    "phase",
    "outage",
    "signal",
    "report",
    "baseline",
    "result",
    "histogram",
    "sample",
    "trace",
    "packet",
    "frame",
    "chunk",
    "header",
    "body",
    "status",
    "error",
    "reset",
    "keep",
    "alive",
    "open",
    "close",
    "fast",
    "slow",
    "steady",
    "quiet",
    "bright",
    "clear",
    "simple",
    "exact",
    "honest",
    "small",
    "large",
    "ready",
    "done",
];

/// `n` tokens for a request: the first without a leading space, the rest with one, so that
/// concatenating the stream's deltas gives the non-streamed content.
pub(crate) fn tokens(content_seed: u64, n: u32) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(n as usize);
    for_each_token(content_seed, n, |t| out.push(t));
    out
}

/// Bytes in the longest token (with its leading space), for sizing buffers.
pub(crate) const LONGEST_TOKEN: usize = 11;

/// The tokens of [`tokens`], handed to `f` one by one (no list built).
pub(crate) fn for_each_token(content_seed: u64, n: u32, mut f: impl FnMut(&'static str)) {
    let mut rng = SmallRng::seed_from_u64(content_seed);
    for i in 0..n {
        let w = rng.gen_range(0..WORDS.len());
        f(if i == 0 { WORDS[w] } else { SPACED[w] });
    }
}

const SPACED: [&str; 64] = {
    // Leading-space variants, kept static so a token never allocates.
    [
        " the",
        " pool",
        " relay",
        " token",
        " latency",
        " stream",
        " request",
        " answer",
        " model",
        " upstream",
        " queue",
        " socket",
        " retry",
        " budget",
        " circuit",
        " breaker",
        " percentile",
        " handshake",
        " timeout",
        " gateway",
        " server",
        " client",
        " bench",
        " mock",
        " load",
        " rate",
        " limit",
        " window",
        " bucket",
        " burst",
        " phase",
        " outage",
        " signal",
        " report",
        " baseline",
        " result",
        " histogram",
        " sample",
        " trace",
        " packet",
        " frame",
        " chunk",
        " header",
        " body",
        " status",
        " error",
        " reset",
        " keep",
        " alive",
        " open",
        " close",
        " fast",
        " slow",
        " steady",
        " quiet",
        " bright",
        " clear",
        " simple",
        " exact",
        " honest",
        " small",
        " large",
        " ready",
        " done",
    ]
};

/// Approximate token count of a text: one token per 4 characters, at least 1 for non-empty text.
pub(crate) fn estimate_tokens(chars: usize) -> u64 {
    chars.div_ceil(4) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_deterministic_and_spaced() {
        assert_eq!(tokens(7, 10), tokens(7, 10));
        assert_ne!(tokens(7, 10), tokens(8, 10));
        let t = tokens(7, 3);
        assert!(!t[0].starts_with(' ') && t[1].starts_with(' '));
        for (a, b) in WORDS.iter().zip(SPACED.iter()) {
            assert_eq!(format!(" {a}"), *b);
        }
        assert_eq!(SPACED.iter().map(|w| w.len()).max(), Some(LONGEST_TOKEN));
    }
}
