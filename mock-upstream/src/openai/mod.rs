//! The OpenAI wire shapes: requests we parse, responses and SSE chunks we render, error bodies, generated text.

pub(crate) mod chat;
pub(crate) mod embeddings;
pub(crate) mod errors;
pub(crate) mod models;
pub(crate) mod text;
