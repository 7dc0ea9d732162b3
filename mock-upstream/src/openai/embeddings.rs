//! `/v1/embeddings`: string or array input, unit vectors derived from the input text (same input, same vector), float or base64 encoding.

use super::errors::ApiError;
use super::text;
use crate::state::{fnv1a, rng_for, FNV_OFFSET};
use base64::Engine;
use bytes::Bytes;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
struct EmbeddingsRequest {
    model: Option<String>,
    input: Option<Value>,
    encoding_format: Option<String>,
    dimensions: Option<usize>,
}

/// A validated embeddings request.
pub(crate) struct EmbeddingsPlan {
    pub model: String,
    /// One hash per input item; each seeds its vector.
    inputs: Vec<u64>,
    pub prompt_tokens: u64,
    base64: bool,
    dimensions: usize,
}

impl EmbeddingsPlan {
    pub(crate) fn parse(body: &[u8], default_dim: usize) -> Result<EmbeddingsPlan, ApiError> {
        let req: EmbeddingsRequest =
            serde_json::from_slice(body).map_err(|e| match e.classify() {
                serde_json::error::Category::Data => {
                    ApiError::invalid(format!("Invalid request body: {e}"))
                }
                _ => ApiError::bad_json(&e.to_string()),
            })?;
        let model = req
            .model
            .filter(|m| !m.is_empty())
            .ok_or_else(|| ApiError::missing("model"))?;
        let input = req.input.ok_or_else(|| ApiError::missing("input"))?;
        let (inputs, prompt_tokens) = hash_inputs(&input)?;
        let base64 = match req.encoding_format.as_deref() {
            None | Some("float") => false,
            Some("base64") => true,
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "Invalid encoding_format {other:?}: use \"float\" or \"base64\"."
                ))
                .param("encoding_format"))
            }
        };
        let dimensions = req.dimensions.unwrap_or(default_dim);
        if dimensions == 0 || dimensions > 65_536 {
            return Err(
                ApiError::invalid("Invalid 'dimensions': must be between 1 and 65536.")
                    .param("dimensions"),
            );
        }
        Ok(EmbeddingsPlan {
            model,
            inputs,
            prompt_tokens,
            base64,
            dimensions,
        })
    }

    /// The `list` of embeddings with usage.
    pub(crate) fn response_body(&self, seed: u64) -> Bytes {
        let data = self
            .inputs
            .iter()
            .enumerate()
            .map(|(index, h)| {
                let v = vector(seed ^ h, self.dimensions);
                let embedding = if self.base64 {
                    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                    EmbeddingValue::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
                } else {
                    EmbeddingValue::Floats(v)
                };
                Embedding {
                    object: "embedding",
                    index,
                    embedding,
                }
            })
            .collect();
        let list = List {
            object: "list",
            data,
            model: &self.model,
            usage: EmbeddingUsage {
                prompt_tokens: self.prompt_tokens,
                total_tokens: self.prompt_tokens,
            },
        };
        serde_json::to_vec(&list)
            .map(Bytes::from)
            .unwrap_or_default()
    }
}

/// Accepts what OpenAI accepts: a string, an array of strings, an array of token ids, or an
/// array of token-id arrays. Returns one hash per item and the prompt token count.
fn hash_inputs(input: &Value) -> Result<(Vec<u64>, u64), ApiError> {
    let bad = || {
        ApiError::invalid("Invalid 'input': expected a non-empty string, array of strings, or array of token arrays.").param("input")
    };
    let item = |v: &Value| -> Option<(u64, u64)> {
        match v {
            Value::String(s) if !s.is_empty() => Some((
                fnv1a(s.as_bytes(), FNV_OFFSET),
                text::estimate_tokens(s.chars().count()),
            )),
            Value::Array(ids) if !ids.is_empty() && ids.iter().all(Value::is_u64) => {
                let h = ids
                    .iter()
                    .filter_map(Value::as_u64)
                    .fold(FNV_OFFSET, |h, id| fnv1a(&id.to_le_bytes(), h));
                Some((h, ids.len() as u64))
            }
            _ => None,
        }
    };
    let items: Vec<(u64, u64)> = match input {
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_u64) => {
            vec![item(input).ok_or_else(bad)?]
        }
        Value::Array(a) if !a.is_empty() && a.len() <= 2048 => {
            a.iter().map(item).collect::<Option<_>>().ok_or_else(bad)?
        }
        Value::String(_) => vec![item(input).ok_or_else(bad)?],
        _ => return Err(bad()),
    };
    let tokens = items.iter().map(|(_, t)| t).sum();
    Ok((items.into_iter().map(|(h, _)| h).collect(), tokens))
}

/// A unit vector of `dim` normal samples seeded by `seed`.
fn vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut rng = rng_for(seed, 1, 0);
    let mut v: Vec<f32> = (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect();
    let norm = v
        .iter()
        .map(|x| x * x)
        .sum::<f32>()
        .sqrt()
        .max(f32::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Embedding>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: EmbeddingValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EmbeddingValue {
    Floats(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_deterministic_per_input() {
        let p = EmbeddingsPlan::parse(
            br#"{"model":"e","input":["a","b","a"],"dimensions":8}"#,
            1536,
        )
        .unwrap();
        let body: Value = serde_json::from_slice(&p.response_body(3)).unwrap();
        let vecs: Vec<Vec<f64>> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                d["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect();
        assert_eq!(vecs.len(), 3);
        assert_eq!(vecs[0].len(), 8);
        assert_eq!(vecs[0], vecs[2]);
        assert_ne!(vecs[0], vecs[1]);
        let norm: f64 = vecs[0].iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-3);
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(
            EmbeddingsPlan::parse(br#"{"model":"e"}"#, 8)
                .err()
                .unwrap()
                .param,
            Some("input")
        );
        assert_eq!(
            EmbeddingsPlan::parse(br#"{"model":"e","input":[]}"#, 8)
                .err()
                .unwrap()
                .param,
            Some("input")
        );
        assert_eq!(
            EmbeddingsPlan::parse(br#"{"model":"e","input":[1,"x"]}"#, 8)
                .err()
                .unwrap()
                .param,
            Some("input")
        );
        assert!(EmbeddingsPlan::parse(br#"{"model":"e","input":[1,2,3]}"#, 8).is_ok());
    }
}
