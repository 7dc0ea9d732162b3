//! The usual chat request read without serde: a byte scanner for one common shape that gives up (and leaves the request to serde_json) on anything else.
//!
//! serde_json spends about 2,300 instructions on the 75-byte request of a load test — a
//! visitor per field, an `Option` layer per value — which made it the largest single cost of a
//! fault-free chat request. This scanner reads the shape clients send (an object of `model`,
//! `messages` of `role` and `content` strings, `stream`, `max_tokens`,
//! `max_completion_tokens`) in a few hundred. It only accepts what serde_json would read to
//! the same values: strings without escapes or control characters, integers without sign,
//! fraction or exponent, no other keys and no repeated ones, nothing after the object but
//! whitespace. Everything else (including every invalid body) returns `None`, so serde_json
//! still words every error.

use super::ChatRequest;
use crate::prompt::{Content, Messages, Str};
use std::borrow::Cow;

/// `body` read as serde_json would read it, or `None` when it is not of the scanned shape.
pub(super) fn scan(body: &str) -> Option<ChatRequest<'_>> {
    let mut s = Scanner { text: body, at: 0 };
    let req = s.request()?;
    s.ws();
    (s.at == body.len()).then_some(req)
}

/// Where a plain string stops: its closing quote, or what the scanner leaves to serde_json (an
/// escape, or a control character, which JSON does not allow in a string).
fn is_stop(b: u8) -> bool {
    b == b'"' || b == b'\\' || b < 0x20
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// [`is_stop`] for the eight bytes of `x` (little-endian) at once: the high bit of each stop
/// byte is set. Only the lowest set bit is exact (a borrow can mark bytes above a stop byte),
/// and it is the only one used.
fn stops(x: u64) -> u64 {
    let zero_bytes = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    zero_bytes(x ^ (ONES * u64::from(b'"')))
        | zero_bytes(x ^ (ONES * u64::from(b'\\')))
        | (x.wrapping_sub(ONES * 0x20) & !x & HIGHS)
}

/// A position in the body.
struct Scanner<'a> {
    /// The whole body (already checked to be UTF-8).
    text: &'a str,
    /// Offset of the next unread byte.
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Skips JSON whitespace.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// Skips whitespace, then expects `c`.
    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// A string with nothing to unescape, borrowed from the body.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let bytes = self.text.as_bytes();
        let mut end = start;
        // Eight bytes per step: a byte at a time cost more than the rest of the scan together.
        while let Some(chunk) = bytes.get(end..end + 8) {
            let stops = stops(u64::from_le_bytes(chunk.try_into().ok()?));
            if stops != 0 {
                end += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            end += 8;
        }
        while bytes.get(end).is_some_and(|&b| !is_stop(b)) {
            end += 1;
        }
        if *bytes.get(end)? != b'"' {
            return None;
        }
        self.at = end + 1;
        // Both ends are ASCII quotes, so both are character boundaries.
        self.text.get(start..end)
    }

    fn boolean(&mut self) -> Option<bool> {
        self.ws();
        let rest = &self.text.as_bytes()[self.at..];
        let (value, len) = if rest.starts_with(b"true") {
            (true, 4)
        } else if rest.starts_with(b"false") {
            (false, 5)
        } else {
            return None;
        };
        self.at += len;
        Some(value)
    }

    /// A non-negative integer that fits in a `u64` for sure (at most 19 digits, no leading zero).
    fn integer(&mut self) -> Option<u64> {
        self.ws();
        let rest = &self.text.as_bytes()[self.at..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 19 || (digits > 1 && rest[0] == b'0') {
            return None;
        }
        self.at += digits;
        Some(
            rest[..digits]
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')),
        )
    }

    /// `open`, then items separated by commas until `close`: `item` reads each one.
    fn list(
        &mut self,
        open: u8,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        self.ws();
        if self.peek()? == close {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                c if c == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `{`, then members until `}`: `member` reads each value after its key and colon, and
    /// returns `None` for a key it does not take.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.list(b'{', b'}', |s| {
            let key = s.string()?;
            s.eat(b':')?;
            member(s, key)
        })
    }

    fn request(&mut self) -> Option<ChatRequest<'a>> {
        let mut req = ChatRequest {
            model: None,
            messages: None,
            stream: None,
            stream_options: None,
            max_tokens: None,
            max_completion_tokens: None,
        };
        // A repeated key falls to the last arm: serde_json refuses it with an error of its own.
        self.object(|s, key| {
            match key {
                "model" if req.model.is_none() => {
                    req.model = Some(Str(Cow::Borrowed(s.string()?)));
                }
                "messages" if req.messages.is_none() => req.messages = Some(s.messages()?),
                "stream" if req.stream.is_none() => req.stream = Some(s.boolean()?),
                "max_tokens" if req.max_tokens.is_none() => req.max_tokens = Some(s.integer()?),
                "max_completion_tokens" if req.max_completion_tokens.is_none() => {
                    req.max_completion_tokens = Some(s.integer()?);
                }
                _ => return None,
            }
            Some(())
        })?;
        Some(req)
    }

    /// `[`, then message objects of `role` and `content` strings until `]`, folded as they come.
    fn messages(&mut self) -> Option<Messages<'a>> {
        let mut out = Messages::new();
        self.list(b'[', b']', |s| {
            let (mut role, mut content) = (None, None);
            s.object(|s, key| {
                match key {
                    "role" if role.is_none() => role = Some(s.string()?),
                    "content" if content.is_none() => {
                        content = Some(Content::Text(Cow::Borrowed(s.string()?)));
                    }
                    _ => return None,
                }
                Some(())
            })?;
            out.add(role.map(Cow::Borrowed), content);
            Some(())
        })?;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a parsed request means, comparable.
    type View = (
        Option<String>,
        Option<(usize, Vec<(String, String)>, u64)>,
        Option<bool>,
        bool,
        Option<u64>,
        Option<u64>,
    );

    fn view(r: &ChatRequest<'_>) -> View {
        (
            r.model.as_ref().map(|m| m.to_string()),
            r.messages.as_ref().map(|m| {
                let texts = m.texts.iter().map(|(r, t)| (r.to_string(), t.to_string()));
                (m.count, texts.collect(), m.hash)
            }),
            r.stream,
            r.stream_options.is_some(),
            r.max_tokens,
            r.max_completion_tokens,
        )
    }

    fn serde(body: &str) -> Option<View> {
        serde_json::from_str::<ChatRequest>(body)
            .ok()
            .map(|r| view(&r))
    }

    #[test]
    fn reads_common_requests_like_serde() {
        for body in [
            r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello"}]}"#,
            "{\n  \"messages\": [\n    {\"role\": \"system\", \"content\": \"Be brief.\"},\n    {\"content\": \"h\u{e9}llo \u{1F600}\", \"role\": \"user\"}\n  ],\n  \"model\": \"m\",\n  \"stream\": false,\n  \"max_tokens\": 0,\n  \"max_completion_tokens\": 1234567890123456789\n}\r\n",
            r#"{"model":"m","messages":[],"stream":true}"#,
            r#"{"model":"m","messages":[{}]}"#,
            r#"{}"#,
        ] {
            let fast = scan(body).map(|r| view(&r));
            assert!(fast.is_some(), "not scanned: {body}");
            assert_eq!(fast, serde(body), "{body}");
        }
    }

    #[test]
    fn leaves_other_shapes_to_serde() {
        for body in [
            r#"{"model":"m\u0065","messages":[]}"#,
            r#"{"model":"m","model":"n","messages":[]}"#,
            r#"{"model":"m","messages":[],"temperature":0.5}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":null}]}"#,
            r#"{"model":"m","messages":[],"max_tokens":01}"#,
            r#"{"model":"m","messages":[],"max_tokens":1.0}"#,
            r#"{"model":"m","messages":[],"max_tokens":-1}"#,
            r#"{"model":"m","messages":[],"max_tokens":12345678901234567890}"#,
            r#"{"model":"m","messages":[],"stream":null}"#,
            r#"{"model":"m","messages":[],}"#,
            r#"{"model":"m","messages":[{"role":"user"},]}"#,
            r#"{"model":"m","messages":[]} x"#,
            r#"{"model":"m","messages":[],"stream_options":{"include_usage":true}}"#,
            "{\"model\":\"a\tb\",\"messages\":[]}",
            r#"{"model":"m""#,
            "",
        ] {
            assert!(scan(body).is_none(), "scanned: {body}");
        }
    }

    /// Pieces that bodies are built from: valid and invalid, common and odd.
    fn string() -> impl Strategy<Value = String> {
        prop::sample::select(vec![
            "\"\"",
            "\"gpt-4o-mini\"",
            "\"Say hello\"",
            "\"h\u{e9}llo \u{1F600}\"",
            "\"a\\nb\"",
            "\"q\\\"\"",
            "\"\\u00e9\"",
            "\"tab\tin\"",
            "\"unterminated",
            "\"del\u{7f}\"",
        ])
        .prop_map(str::to_string)
    }

    fn scalar() -> impl Strategy<Value = String> {
        prop_oneof![
            string(),
            prop::sample::select(vec![
                "0",
                "7",
                "01",
                "-1",
                "1.5",
                "1e3",
                "18446744073709551615",
                "9999999999999999999",
                "true",
                "false",
                "null",
                "tru",
                "{}",
                "[]",
            ])
            .prop_map(str::to_string),
        ]
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["", "", "", " ", "\n  ", "\t", "\r\n"])
    }

    fn message() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "\"role\"",
            "\"content\"",
            "\"name\"",
            "\"rol\\u0065\"",
        ]);
        let value = prop_oneof![
            string(),
            scalar(),
            Just("[{\"type\":\"text\",\"text\":\"hi\"}]".to_string())
        ];
        prop::collection::vec((ws(), key, ws(), value), 0..4).prop_map(|members| {
            let inner: Vec<String> = members
                .into_iter()
                .map(|(w, k, w2, v)| format!("{w}{k}{w2}:{w}{v}"))
                .collect();
            format!("{{{}}}", inner.join(","))
        })
    }

    fn body() -> impl Strategy<Value = String> {
        let messages = prop::collection::vec((ws(), message()), 0..4).prop_map(|ms| {
            let inner: Vec<String> = ms.into_iter().map(|(w, m)| format!("{w}{m}")).collect();
            format!("[{}]", inner.join(","))
        });
        let member = (
            prop::sample::select(vec![
                "model",
                "messages",
                "stream",
                "max_tokens",
                "max_completion_tokens",
                "stream_options",
                "temperature",
            ]),
            prop_oneof![scalar(), messages],
            ws(),
        );
        let tail = prop::sample::select(vec!["", "", "", " \n", ",", "x", "}"]);
        (prop::collection::vec(member, 0..7), ws(), tail).prop_map(|(members, w, tail)| {
            let inner: Vec<String> = members
                .into_iter()
                .map(|(k, v, w)| format!("{w}\"{k}\"{w}:{w}{v}{w}"))
                .collect();
            format!("{w}{{{}}}{tail}", inner.join(","))
        })
    }

    #[test]
    fn eight_byte_stops_find_the_first_stop_byte() {
        let mut state = 1u64;
        for _ in 0..200_000 {
            state = crate::state::splitmix(state);
            // Bytes drawn mostly from the interesting values.
            let bytes = state.to_le_bytes().map(|b| match b % 8 {
                0 => b'"',
                1 => b'\\',
                2 => b % 0x21,
                3 => 0x80 | b,
                _ => b'a' + b % 26,
            });
            let first = bytes.iter().position(|&b| is_stop(b));
            let mask = stops(u64::from_le_bytes(bytes));
            let found = (mask != 0).then(|| (mask.trailing_zeros() / 8) as usize);
            assert_eq!(found, first, "{bytes:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever the scanner reads, serde_json reads to the same values.
        #[test]
        fn scanned_bodies_read_the_same_with_serde(body in body()) {
            if let Some(fast) = scan(&body) {
                prop_assert_eq!(Some(view(&fast)), serde(&body), "{}", body);
            }
        }
    }
}
