//! Synthetic prompt text of an exact token count in a given encoding, built from words that are one token each.
//!
//! Each word is written with its leading space (` the`), which both encodings' pre-tokenizers
//! keep as a piece of its own, so `n` such words are `n` tokens; every text is still counted
//! once and trimmed or padded, so the count holds whatever the word list becomes.

use rand::Rng;
use relaybench_tokens::Encoding;
use std::sync::OnceLock;

/// Common English words; those that are not one token (with their leading space) in an
/// encoding are left out of its list.
const CANDIDATES: &str = "the of and to in is it that for was on are as with his they at be this \
from have or by one had not but what all were when we there can an your which their said if do will \
each about how up out them then she many some so these would other into has more her two like him see \
time could no make than first been its who now people my made over did down only way find use may water \
long little very after words called just where most know get through back much go good new write our me \
man too any day same right look think also around another came come work three word must because does \
part even place well such here take why things help put years different away again off went old number \
great tell men say small every found still between name should home big give air line set own under read \
last never us left end along while might next sound below saw something thought both few those always \
looked show large often together asked house world going want school important until form food keep \
children feet land side without boy once animals life enough took four head above kind began almost live \
page got earth need far hand high year mother light country father let night picture being study second \
soon story since white ever paper hard near sentence better best across during today however sure knew \
try told young sun thing whole hear example heard several change answer room sea against top turned learn \
point city play toward five himself usually money seen car morning table river plan road open music \
color face cold family";

/// The one-token words of `encoding`, each with its leading space.
pub fn words(encoding: Encoding) -> &'static [String] {
    static O200K: OnceLock<Vec<String>> = OnceLock::new();
    static CL100K: OnceLock<Vec<String>> = OnceLock::new();
    let cell = match encoding {
        Encoding::O200kBase => &O200K,
        Encoding::Cl100kBase => &CL100K,
    };
    cell.get_or_init(|| {
        CANDIDATES
            .split_whitespace()
            .map(|w| format!(" {w}"))
            .filter(|w| encoding.count(w) == 1)
            .collect()
    })
}

/// Text of exactly `tokens` tokens in `encoding`, its words drawn with `rng` (so a seeded
/// generator gives the same text every time).
pub fn text<R: Rng>(encoding: Encoding, tokens: u32, rng: &mut R) -> String {
    let words = words(encoding);
    let mut pieces: Vec<&str> = (0..tokens)
        .map(|_| words[rng.gen_range(0..words.len())].as_str())
        .collect();
    // By construction the count is already right; the check keeps it right.
    loop {
        let text = pieces.concat();
        let counted = encoding.count(&text);
        match counted.cmp(&tokens) {
            std::cmp::Ordering::Equal => return text,
            std::cmp::Ordering::Greater => {
                pieces.pop();
            }
            std::cmp::Ordering::Less => pieces.push(words[0].as_str()),
        }
        if pieces.is_empty() {
            return String::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    #[test]
    fn texts_have_exactly_the_asked_token_count_in_both_encodings() {
        for encoding in Encoding::ALL {
            assert!(
                words(encoding).len() > 200,
                "{encoding}: a varied word list"
            );
            for seed in [1, 2, 3, 0x5EED] {
                let mut rng = SmallRng::seed_from_u64(seed);
                for tokens in [1, 2, 17, 128, 511, 2048] {
                    let t = text(encoding, tokens, &mut rng);
                    assert_eq!(encoding.count(&t), tokens, "{encoding}, seed {seed}");
                }
            }
            let again = |seed| text(encoding, 64, &mut SmallRng::seed_from_u64(seed));
            assert_eq!(again(9), again(9), "seeded: the same text");
            assert_ne!(again(9), again(10));
        }
    }
}
