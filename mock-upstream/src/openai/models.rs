//! `/v1/models` and `/v1/models/{id}`: the configured model list in OpenAI's `list` shape.

use bytes::Bytes;
use serde::Serialize;

#[derive(Serialize)]
struct Model<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
}

#[derive(Serialize)]
struct List<'a> {
    object: &'static str,
    data: Vec<Model<'a>>,
}

fn model(id: &str, created: u64) -> Model<'_> {
    Model {
        id,
        object: "model",
        created,
        owned_by: "mock-upstream",
    }
}

/// The list body.
pub(crate) fn list_body(models: &[String], created: u64) -> Bytes {
    let list = List {
        object: "list",
        data: models.iter().map(|m| model(m, created)).collect(),
    };
    serde_json::to_vec(&list)
        .map(Bytes::from)
        .unwrap_or_default()
}

/// One model's body.
pub(crate) fn model_body(id: &str, created: u64) -> Bytes {
    serde_json::to_vec(&model(id, created))
        .map(Bytes::from)
        .unwrap_or_default()
}
