//! Body templating: `{{index}}`, `{{random:MIN-MAX}}`, `{{pick:a|b|c}}` and `{{uuid}}` in bodies and prompts, parsed once and rendered per request.
//!
//! A template is parsed into segments when the mix is built, so a request only copies
//! literal bytes and formats a number or two into a buffer that the worker reuses.

use bytes::{BufMut, Bytes, BytesMut};
use rand::Rng;
use std::fmt::Write as _;

/// One piece of a parsed template.
#[derive(Clone, Debug, PartialEq)]
enum Segment {
    /// Text copied as is.
    Literal(String),
    /// The request's global sequence number in the run.
    Index,
    /// A uniform integer in `[min, max]`.
    Random(i64, i64),
    /// One of the options, uniformly.
    Pick(Vec<String>),
    /// A random version-4 UUID.
    Uuid,
}

/// A parsed template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

impl Template {
    /// Whether `text` has anything to render; text without `{{` is sent pre-built.
    pub fn is_templated(text: &str) -> bool {
        text.contains("{{")
    }

    /// Parses `text`; an unknown or malformed placeholder is an error naming it.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("`{{{{` without a closing `}}}}` in `{}`", clip(rest)))?;
            segments.push(placeholder(&after[..close])?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_string()));
        }
        Ok(Template { segments })
    }

    /// Renders into `out` (appending) for request number `index`.
    pub fn render<R: Rng>(&self, index: u64, rng: &mut R, out: &mut BytesMut) {
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.put_slice(text.as_bytes()),
                Segment::Index => push_display(out, index),
                Segment::Random(min, max) => push_display(out, rng.gen_range(*min..=*max)),
                Segment::Pick(options) => {
                    out.put_slice(options[rng.gen_range(0..options.len())].as_bytes())
                }
                Segment::Uuid => push_uuid(out, rng.gen()),
            }
        }
    }

    /// Renders into `buffer` and hands the bytes out; the buffer's allocation is reused once
    /// the previous request's body has been dropped.
    pub fn render_bytes<R: Rng>(&self, index: u64, rng: &mut R, buffer: &mut BytesMut) -> Bytes {
        buffer.clear();
        self.render(index, rng, buffer);
        buffer.split().freeze()
    }
}

fn placeholder(inner: &str) -> Result<Segment, String> {
    let inner = inner.trim();
    let (name, arg) = match inner.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a)),
        None => (inner, None),
    };
    match (name, arg) {
        ("index", None) => Ok(Segment::Index),
        ("uuid", None) => Ok(Segment::Uuid),
        ("random", Some(range)) => {
            let bad = || format!("`{{{{random:{range}}}}}`: expected `{{{{random:MIN-MAX}}}}` with integers MIN ≤ MAX");
            // Split at the '-' after the first character so a negative MIN (`-5-5`) parses.
            let cut = range
                .char_indices()
                .skip(1)
                .find(|(_, c)| *c == '-')
                .map(|(i, _)| i)
                .ok_or_else(bad)?;
            let min: i64 = range[..cut].trim().parse().map_err(|_| bad())?;
            let max: i64 = range[cut + 1..].trim().parse().map_err(|_| bad())?;
            if min > max {
                return Err(bad());
            }
            Ok(Segment::Random(min, max))
        }
        ("pick", Some(options)) => Ok(Segment::Pick(
            options.split('|').map(str::to_string).collect(),
        )),
        _ => Err(format!(
            "unknown placeholder `{{{{{inner}}}}}`; known: {{{{index}}}}, {{{{random:MIN-MAX}}}}, {{{{pick:a|b|c}}}}, {{{{uuid}}}}"
        )),
    }
}

/// The start of `text`, for error messages.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

fn push_display(out: &mut BytesMut, value: impl std::fmt::Display) {
    // BytesMut implements fmt::Write, so the number is formatted in place, without a String.
    let _ = write!(out, "{value}");
}

fn push_uuid(out: &mut BytesMut, random: u128) {
    // Version 4 (random), variant 1 (RFC 4122).
    let v = (random & !(0xF << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let hex = format!("{v:032x}");
    for (i, part) in [
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32],
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            out.put_u8(b'-');
        }
        out.put_slice(part.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    fn render(t: &str, index: u64, seed: u64) -> String {
        let mut buf = BytesMut::new();
        let bytes = Template::parse(t).unwrap().render_bytes(
            index,
            &mut SmallRng::seed_from_u64(seed),
            &mut buf,
        );
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn literal_text_and_index() {
        assert_eq!(render("plain", 3, 0), "plain");
        assert_eq!(
            render(r#"{"n": {{index}}, "m": {{ index }}}"#, 42, 0),
            r#"{"n": 42, "m": 42}"#
        );
        assert_eq!(render("{{index}}{{index}}", 7, 0), "77");
        assert!(!Template::is_templated("{\"a\": {}}"));
        assert!(Template::is_templated("x {{index}}"));
    }

    #[test]
    fn random_stays_in_range_and_covers_it() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let n: i64 = render("{{random:1-3}}", 0, seed).parse().unwrap();
            assert!((1..=3).contains(&n), "{n}");
            seen.insert(n);
        }
        assert_eq!(seen.len(), 3);
        let n: i64 = render("{{random:-5--2}}", 0, 1).parse().unwrap();
        assert!((-5..=-2).contains(&n));
        assert_eq!(render("{{random:9-9}}", 0, 1), "9");
    }

    #[test]
    fn pick_chooses_one_option() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..100 {
            let s = render("say {{pick:hi|hello there|hey}}!", 0, seed);
            assert!(
                ["say hi!", "say hello there!", "say hey!"].contains(&s.as_str()),
                "{s}"
            );
            seen.insert(s);
        }
        assert_eq!(seen.len(), 3);
    }

    #[test]
    fn uuid_is_a_version_4_uuid_and_varies() {
        let a = render("{{uuid}}", 0, 1);
        let b = render("{{uuid}}", 0, 2);
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'), "{a}");
        assert!("89ab".contains(&parts[3][..1]), "{a}");
    }

    #[test]
    fn bad_placeholders_are_errors_naming_them() {
        for (text, needle) in [
            ("{{nope}}", "unknown placeholder `{{nope}}`"),
            ("{{random:3-1}}", "random:3-1"),
            ("{{random:a-b}}", "random:a-b"),
            ("{{index", "without a closing"),
            ("{{uuid:x}}", "unknown placeholder"),
        ] {
            let e = Template::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn the_buffer_is_reused() {
        let t = Template::parse("{{index}}-abcdefgh").unwrap();
        let mut buf = BytesMut::with_capacity(64);
        let mut rng = SmallRng::seed_from_u64(0);
        let first = t.render_bytes(1, &mut rng, &mut buf);
        drop(first);
        let second = t.render_bytes(2, &mut rng, &mut buf);
        assert_eq!(&second[..], b"2-abcdefgh");
    }
}
