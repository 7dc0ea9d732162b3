//! A request's prompt, read borrowing from the body: message roles and texts (strings or text
//! parts) in every protocol's shape, the hash that seeds the reply's words, and the honest
//! prompt token count (`relaybench-tokens`, OpenAI's chat framing).

use crate::state::{fnv1a, FNV_OFFSET};
use relaybench_tokens::Encoding;
use serde::de::value::SeqAccessDeserializer;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    role: Option<Str<'a>>,
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
}

/// A request's messages: their (role, text) pairs, kept borrowed until the model is known and
/// the prompt can be counted in its encoding.
#[derive(Debug, PartialEq)]
pub(crate) struct Messages<'a> {
    pub count: usize,
    /// FNV-1a over every role and text, in order.
    pub hash: u64,
    /// (role, text) per message; a message of several text parts has them concatenated.
    pub texts: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> Messages<'a> {
    pub(crate) fn new() -> Messages<'a> {
        Messages {
            count: 0,
            hash: FNV_OFFSET,
            texts: Vec::new(),
        }
    }

    /// Adds one message.
    pub(crate) fn add(&mut self, role: Option<Cow<'a, str>>, content: Option<Content<'a>>) {
        self.count += 1;
        let role = role.unwrap_or(Cow::Borrowed(""));
        let text = content.map_or(Cow::Borrowed(""), Content::into_text);
        self.hash = fnv1a(text.as_bytes(), fnv1a(role.as_bytes(), self.hash));
        self.texts.push((role, text));
    }

    /// The prompt of a request for `model` whose `system` text (Responses' `instructions`,
    /// Anthropic's `system`) leads the messages: its honest token count and the hash that
    /// seeds the reply (`seed` being the server's).
    pub(crate) fn prompt(&self, model: &str, system: Option<&str>, seed: u64) -> PromptCount {
        let hash = fnv1a(system.unwrap_or("").as_bytes(), self.hash);
        PromptCount {
            tokens: self.prompt_tokens(model, system),
            hash: fnv1a(model.as_bytes(), hash ^ seed),
        }
    }

    /// Prompt tokens in `model`'s encoding: `system` as a leading system message, then the
    /// messages, with OpenAI's chat framing. The cache is keyed by the model's name, so the
    /// name-to-encoding lookup is paid only when a prompt is counted.
    fn prompt_tokens(&self, model: &str, system: Option<&str>) -> u64 {
        let system = system.map(|s| ("system", s));
        let messages = self.texts.iter().map(|(r, t)| (&**r, &**t));
        let all = system.into_iter().chain(messages);
        let model_key = fnv1a(&(model.len() as u64).to_le_bytes(), FNV_OFFSET);
        let key = all
            .clone()
            .fold(fnv1a(model.as_bytes(), model_key), |h, (r, t)| {
                // Lengths too: ("use", "rhello") is not ("user", "hello").
                let h = fnv1a(&(r.len() as u64).to_le_bytes(), h);
                let h = fnv1a(&(t.len() as u64).to_le_bytes(), fnv1a(r.as_bytes(), h));
                fnv1a(t.as_bytes(), h)
            });
        if let Some(n) = counted::get(key) {
            return n;
        }
        let n = u64::from(Encoding::for_model(model).encoding.count_chat(all));
        counted::put(key, n);
        n
    }
}

/// A prompt's honest token count and the hash that seeds its reply.
pub(crate) struct PromptCount {
    pub tokens: u64,
    pub hash: u64,
}

/// Prompts already counted. A load test sends the same few prompts again and again, and BPE
/// counting costs microseconds per prompt where the rest of a request costs less than one:
/// hashing the texts again is a small part of that.
mod counted {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    const SLOTS: usize = 4096;
    const COUNT_BITS: u32 = 24;

    /// Direct-mapped by the key's low bits; each entry packs the key's top 40 bits with the
    /// count in one word, so a reader never sees one key's tag with another's count. 0 is empty
    /// (every count includes the framing's 3 tokens).
    static ENTRIES: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

    fn slot(key: u64) -> &'static AtomicU64 {
        &ENTRIES[key as usize % SLOTS]
    }

    fn tag(key: u64) -> u64 {
        key >> COUNT_BITS << COUNT_BITS
    }

    pub(super) fn get(key: u64) -> Option<u64> {
        let entry = slot(key).load(Relaxed);
        let count = entry & ((1 << COUNT_BITS) - 1);
        (entry != 0 && entry - count == tag(key)).then_some(count)
    }

    pub(super) fn put(key: u64, count: u64) {
        if count < 1 << COUNT_BITS {
            slot(key).store(tag(key) | count, Relaxed);
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Messages<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Messages<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of messages")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Messages<'a>, A::Error> {
                let mut out = Messages::new();
                while let Some(m) = seq.next_element::<Message<'a>>()? {
                    out.add(m.role.map(|r| r.0), m.content);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

impl<'a> Content<'a> {
    /// The text that counts: the string, or the text parts concatenated.
    pub(crate) fn into_text(self) -> Cow<'a, str> {
        match self {
            Content::Text(s) => s,
            Content::Parts(parts) => {
                let mut texts = parts.into_iter().filter_map(|p| p.text.map(|t| t.0));
                let Some(first) = texts.next() else {
                    return Cow::Borrowed("");
                };
                texts.fold(first, |mut all, t| {
                    all.to_mut().push_str(&t);
                    all
                })
            }
        }
    }
}

/// A message's content: a string, or parts whose `text` counts (images and others are ignored).
/// A `null` content is read by its `Option` as absent.
pub(crate) enum Content<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<Part<'a>>),
}

#[derive(Deserialize)]
pub(crate) struct Part<'a> {
    #[serde(borrow, default)]
    text: Option<Str<'a>>,
}

/// A string borrowed from the body unless it has escapes. (serde borrows a bare `Cow<str>`
/// field, but not one inside an `Option`: that would allocate every model and role.)
pub(crate) struct Str<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Content<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Content<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Content<'a>, E> {
                Ok(Content::Text(Cow::Owned(v.to_string())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Content<'a>, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(Content::Parts)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A Responses `input`: a string (one user message) or a list of messages.
pub(crate) enum Input<'a> {
    Text(Cow<'a, str>),
    Messages(Messages<'a>),
}

impl<'a> Input<'a> {
    /// The input as messages.
    pub(crate) fn into_messages(self) -> Messages<'a> {
        match self {
            Input::Messages(m) => m,
            Input::Text(t) => {
                let mut m = Messages::new();
                m.add(Some(Cow::Borrowed("user")), Some(Content::Text(t)));
                m
            }
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Input<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Input<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of input items")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Input<'a>, E> {
                Ok(Input::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Input<'a>, E> {
                Ok(Input::Text(Cow::Owned(v.to_string())))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> Result<Input<'a>, A::Error> {
                Messages::deserialize(SeqAccessDeserializer::new(seq)).map(Input::Messages)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(pairs: &[(&'static str, &'static str)]) -> Messages<'static> {
        let mut m = Messages::new();
        for (r, t) in pairs {
            m.add(
                Some(Cow::Borrowed(r)),
                Some(Content::Text(Cow::Borrowed(t))),
            );
        }
        m
    }

    #[test]
    fn prompt_counts_are_the_chat_formula_and_the_cache_tells_prompts_apart() {
        let e = Encoding::O200kBase; // gpt-4o's
        let cl = Encoding::Cl100kBase; // gpt-4's
        let a = messages(&[("user", "hello world")]);
        let direct = u64::from(e.count_chat([("user", "hello world")]));
        assert_eq!(a.prompt_tokens("gpt-4o", None), direct);
        assert_eq!(a.prompt_tokens("gpt-4o", None), direct, "from the cache");
        // Same bytes split differently, another encoding, a system message: other counts.
        let b = messages(&[("use", "rhello world")]);
        assert_eq!(
            b.prompt_tokens("gpt-4o", None),
            u64::from(e.count_chat([("use", "rhello world")]))
        );
        let long = messages(&[("user", "tiktoken is great! tiktoken is great!")]);
        let (o, c) = (
            long.prompt_tokens("gpt-4o", None),
            long.prompt_tokens("gpt-4", None),
        );
        assert_eq!(
            c,
            u64::from(cl.count_chat([("user", "tiktoken is great! tiktoken is great!")]))
        );
        assert_eq!(
            o,
            u64::from(e.count_chat([("user", "tiktoken is great! tiktoken is great!")]))
        );
        let sys = a.prompt_tokens("gpt-4o", Some("Be brief."));
        assert_eq!(
            sys,
            u64::from(e.count_chat([("system", "Be brief."), ("user", "hello world")]))
        );
    }

    #[test]
    fn contents_and_inputs_read_strings_parts_and_null() {
        let body = r#"[{"role":"user","content":null},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"},{"text":"b\u00e9"}]},{"content":"c"}]"#;
        let m: Messages = serde_json::from_str(body).unwrap();
        let texts: Vec<_> = m.texts.iter().map(|(r, t)| (&**r, &**t)).collect();
        assert_eq!(texts, [("user", ""), ("user", "abé"), ("", "c")]);
        let from_array = match serde_json::from_str::<Input>(body).unwrap() {
            Input::Messages(a) => a,
            Input::Text(_) => panic!("an array is messages"),
        };
        assert_eq!(from_array, m);
        let one: Input = serde_json::from_str(r#""hello""#).unwrap();
        assert_eq!(one.into_messages(), messages(&[("user", "hello")]));
        let err = serde_json::from_str::<Input>("3")
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("a string or an array of input items"), "{err}");
        let err = serde_json::from_str::<Messages>(r#"[{"content":3}]"#)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("a string or an array of content parts"),
            "{err}"
        );
    }

    #[test]
    fn the_reply_seed_depends_on_model_system_messages_and_server_seed() {
        let a = messages(&[("user", "hello world")]);
        let base = a.prompt("gpt-4o", None, 7).hash;
        assert_eq!(
            base,
            a.prompt("gpt-4o", Some(""), 7).hash,
            "no system is an empty one"
        );
        assert_ne!(base, a.prompt("gpt-4o", Some("Be brief."), 7).hash);
        assert_ne!(base, a.prompt("gpt-4", None, 7).hash);
        assert_ne!(base, a.prompt("gpt-4o", None, 8).hash);
    }
}
