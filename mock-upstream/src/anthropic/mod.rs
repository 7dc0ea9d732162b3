//! The Anthropic wire shapes: the Messages API (`messages`) and its error body (`errors`).

pub(crate) mod errors;
pub(crate) mod messages;
