//! Offline token counting with OpenAI's BPE encodings (tiktoken's ranks ship inside `tiktoken-rs`), shared by relaybench and its mock so both count the same way.
//!
//! relaybench counts what it sent and received; the mock counts what it reports as `usage`.
//! Counting with one implementation is what lets a usage audit read ~0 % against an honest mock.

use std::fmt;
use std::str::FromStr;
use tiktoken_rs::tokenizer::Tokenizer;

/// A BPE encoding that can count offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// GPT-4o, GPT-4.1, o1/o3/o4, GPT-5 families.
    O200kBase,
    /// GPT-4, GPT-3.5-turbo, text-embedding-3 families.
    Cl100kBase,
}

/// Which encoding counts a model's tokens, and whether it is the model's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelEncoding {
    /// The encoding used.
    pub encoding: Encoding,
    /// `true` when the encoding is the model family's own tokenizer; `false` when it stands in
    /// for a tokenizer that is not public (Claude, Gemini, DeepSeek, unknown names), so counts
    /// are an approximation of what the provider bills.
    pub exact: bool,
}

impl Encoding {
    /// Every encoding, by name.
    pub const ALL: [Encoding; 2] = [Encoding::O200kBase, Encoding::Cl100kBase];

    /// The encoding's tiktoken name (`o200k_base`, `cl100k_base`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    /// The encoding for `model`: OpenAI's mapping where tiktoken knows the name (a dated or
    /// provider-prefixed name like `openai/gpt-4o-2024-08-06` included), else `o200k_base` as an
    /// approximation, marked inexact.
    pub fn for_model(model: &str) -> ModelEncoding {
        let bare = model.rsplit('/').next().unwrap_or(model);
        let known = tiktoken_rs::tokenizer::get_tokenizer(bare).and_then(|t| match t {
            Tokenizer::O200kBase => Some(Encoding::O200kBase),
            Tokenizer::Cl100kBase => Some(Encoding::Cl100kBase),
            _ => None,
        });
        let known = known.or_else(|| {
            // Families newer than tiktoken-rs's table, all on o200k_base.
            ["gpt-5", "o4", "gpt-oss"]
                .iter()
                .any(|p| bare.starts_with(p))
                .then_some(Encoding::O200kBase)
        });
        match known {
            Some(encoding) => ModelEncoding {
                encoding,
                exact: true,
            },
            None => ModelEncoding {
                encoding: Encoding::O200kBase,
                exact: false,
            },
        }
    }

    /// Tokens in `text`, special-token text counted as ordinary text (as a provider counts user input).
    pub fn count(self, text: &str) -> u32 {
        let bpe = match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        };
        bpe.encode_ordinary(text).len() as u32
    }

    /// Prompt tokens of a chat request as OpenAI bills them: per message 3 tokens of framing plus
    /// its role and content, plus 3 priming the reply (the cookbook's formula for current models).
    pub fn count_chat<'a>(self, messages: impl IntoIterator<Item = (&'a str, &'a str)>) -> u32 {
        let mut total = 3;
        for (role, content) in messages {
            total += 3 + self.count(role) + self.count(content);
        }
        total
    }

    /// Loads the encoding's tables now, so the first count on a hot path does not pay for it.
    pub fn preload(self) {
        self.count("");
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Encoding::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                format!("unknown encoding {s:?}; expected one of o200k_base, cl100k_base")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_match_tiktoken_reference_values() {
        // Reference values from OpenAI's tiktoken (Python) for the same strings.
        assert_eq!(Encoding::O200kBase.count("hello world"), 2);
        assert_eq!(Encoding::Cl100kBase.count("hello world"), 2);
        assert_eq!(Encoding::Cl100kBase.count("tiktoken is great!"), 6);
        assert_eq!(Encoding::O200kBase.count(""), 0);
    }

    #[test]
    fn models_pick_their_family_encoding_and_others_are_marked_approximate() {
        let e = Encoding::for_model("gpt-4o-mini");
        assert_eq!((e.encoding, e.exact), (Encoding::O200kBase, true));
        let e = Encoding::for_model("openai/gpt-4-0613");
        assert_eq!((e.encoding, e.exact), (Encoding::Cl100kBase, true));
        for newer in ["gpt-5-mini", "o4-mini", "gpt-oss-120b"] {
            let e = Encoding::for_model(newer);
            assert_eq!(
                (e.encoding, e.exact),
                (Encoding::O200kBase, true),
                "{newer}"
            );
        }
        let e = Encoding::for_model("claude-sonnet-4-5");
        assert_eq!((e.encoding, e.exact), (Encoding::O200kBase, false));
    }

    #[test]
    fn chat_framing_follows_the_cookbook_formula() {
        let one = Encoding::O200kBase.count_chat([("user", "hello world")]);
        assert_eq!(one, 3 + 3 + 1 + 2);
    }

    #[test]
    fn names_round_trip_and_unknown_names_say_what_is_expected() {
        for e in Encoding::ALL {
            assert_eq!(e.name().parse::<Encoding>().unwrap(), e);
        }
        let err = "p50k".parse::<Encoding>().unwrap_err();
        assert!(err.contains("o200k_base"), "{err}");
    }
}
