//! Generated text: deterministic words from a seed, each exactly one token in o200k_base and
//! cl100k_base (so a reply's token count is its number of token events), and the rough token
//! estimate embeddings use (≈ 4 characters per token).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const WORDS: [&str; 64] = [
    "the", "pool", "relay", "token", "delay", "stream", "request", "answer", "model", "source",
    "queue", "socket", "retry", "budget", "switch", "breaker", "level", "range", "timeout",
    "gateway", "server", "client", "bench", "mock", "load", "rate", "limit", "window", "bucket",
    "burst", "phase", "event", "signal", "report", "baseline", "result", "order", "sample",
    "trace", "packet", "frame", "chunk", "header", "body", "status", "error", "reset", "keep",
    "alive", "open", "close", "fast", "slow", "steady", "quiet", "bright", "clear", "simple",
    "exact", "share", "small", "large", "ready", "done",
];

/// `n` tokens for a request: the first without a leading space, the rest with one, so that
/// concatenating the stream's deltas gives the non-streamed content.
pub(crate) fn tokens(content_seed: u64, n: u32) -> Vec<&'static str> {
    word_choices(content_seed, n)
        .enumerate()
        .map(|(i, w)| if i == 0 { WORDS[w] } else { SPACED[w] })
        .collect()
}

/// Bytes in the longest token (with its leading space), for sizing buffers.
pub(crate) const LONGEST_TOKEN: usize = 9;

/// Which word (index into [`WORDS`]) each of the `n` tokens is: the one choice that both the
/// streamed and the whole reply are written from.
fn word_choices(content_seed: u64, n: u32) -> impl Iterator<Item = usize> {
    let mut rng = SmallRng::seed_from_u64(content_seed);
    (0..n).map(move |_| rng.gen_range(0..WORDS.len()))
}

/// Appends the tokens of [`tokens`] to `out`, concatenated: the content of a non-streamed reply.
pub(crate) fn append_tokens(content_seed: u64, n: u32, out: &mut Vec<u8>) {
    // The last padded copy needs room for a whole row.
    out.reserve(n as usize * LONGEST_TOKEN + PADDED_WIDTH);
    for (i, w) in word_choices(content_seed, n).enumerate() {
        if i == 0 {
            out.extend_from_slice(WORDS[w].as_bytes());
            continue;
        }
        // A copy of fixed width compiles to two moves where one of the word's own length is a
        // `memcpy` call; the padding is cut off again at once.
        let (row, len) = &PADDED[w];
        out.extend_from_slice(row);
        out.truncate(out.len() - PADDED_WIDTH + len);
    }
}

/// Width of a row of [`PADDED`]: at least [`LONGEST_TOKEN`].
const PADDED_WIDTH: usize = 16;
const _: () = assert!(LONGEST_TOKEN <= PADDED_WIDTH);

/// [`SPACED`] as fixed-width rows (zero padding) with each word's length.
const PADDED: [([u8; PADDED_WIDTH], usize); 64] = {
    let mut out = [([0u8; PADDED_WIDTH], 0); 64];
    let mut w = 0;
    while w < SPACED.len() {
        let word = SPACED[w].as_bytes();
        let mut i = 0;
        while i < word.len() {
            out[w].0[i] = word[i];
            i += 1;
        }
        out[w].1 = word.len();
        w += 1;
    }
    out
};

const SPACED: [&str; 64] = {
    // Leading-space variants, kept static so a token never allocates.
    [
        " the",
        " pool",
        " relay",
        " token",
        " delay",
        " stream",
        " request",
        " answer",
        " model",
        " source",
        " queue",
        " socket",
        " retry",
        " budget",
        " switch",
        " breaker",
        " level",
        " range",
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
        " event",
        " signal",
        " report",
        " baseline",
        " result",
        " order",
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
        " share",
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

    #[test]
    fn every_word_is_one_token_in_both_encodings_and_replies_count_as_their_events() {
        use relaybench_tokens::Encoding;
        for e in Encoding::ALL {
            for w in WORDS.iter().chain(SPACED.iter()) {
                assert_eq!(e.count(w), 1, "{w:?} is not one {e} token");
            }
            for seed in 0..50 {
                let t = tokens(seed, 200);
                assert_eq!(e.count(&t.concat()), 200, "seed {seed} in {e}");
            }
        }
    }

    #[test]
    fn appended_tokens_are_the_concatenated_tokens() {
        for (seed, n) in [(7, 0), (7, 1), (7, 2), (8, 40), (u64::MAX, 300)] {
            let mut out = b"prefix".to_vec();
            append_tokens(seed, n, &mut out);
            assert_eq!(
                out,
                [b"prefix".to_vec(), tokens(seed, n).concat().into_bytes()].concat()
            );
        }
    }
}
