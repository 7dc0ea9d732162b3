//! Prompt datasets from local files (`dataset = { path, format, order }`): ShareGPT conversations or plain JSONL, read and checked with file and line.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A mix entry's dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// The file, relative to the scenario file.
    pub path: String,
    /// `sharegpt`: a JSON array or JSONL of `{"conversations": [{"from": "human", "value": "..."},
    /// {"from": "gpt", "value": "..."}, ...]}` (the first human turn is the prompt, the gpt turn
    /// after it sets the output length when `output_tokens` is unset); `jsonl`: one
    /// `{"prompt": "..."}` or `{"messages": [...]}` per line, with an optional `"output_tokens": N`.
    pub format: DatasetFormat,
    /// `random` (each request picks an entry, the default) or `sequential` (entries in file order,
    /// starting over at the end).
    #[serde(default)]
    pub order: DatasetOrder,
}

/// How a dataset file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatasetFormat {
    /// ShareGPT conversations.
    Sharegpt,
    /// One prompt per line.
    Jsonl,
}

/// The order a dataset's entries are sent in.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DatasetOrder {
    /// A random entry per request.
    #[default]
    Random,
    /// File order, round and round.
    Sequential,
}

/// How long the answer to a dataset entry should be.
#[derive(Clone, Debug, PartialEq)]
pub enum DatasetOutput {
    /// A token count given in the file.
    Tokens(u32),
    /// The recorded answer, counted with the target's encoding when the mix is built.
    Text(String),
}

/// One prompt of a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetEntry {
    /// The chat `messages` array.
    pub messages: Value,
    /// Its answer's length, when the file says.
    pub output: Option<DatasetOutput>,
    /// ShareGPT: the conversation's later human turns, in order (the user messages of a
    /// session's turns 2, 3, ... with `turns`); empty for JSONL.
    pub later_turns: Vec<String>,
}

/// Reads a dataset's text; errors are (1-based line, message).
pub fn parse(text: &str, format: DatasetFormat) -> Result<Vec<DatasetEntry>, (usize, String)> {
    let records: Vec<(usize, Value)> = if text.trim_start().starts_with('[') {
        let all: Vec<Value> =
            serde_json::from_str(text).map_err(|e| (e.line(), format!("not JSON: {e}")))?;
        all.into_iter()
            .zip(element_lines(text))
            .map(|(v, l)| (l, v))
            .collect()
    } else {
        let mut records = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let value =
                serde_json::from_str(line).map_err(|e| (n + 1, format!("not JSON: {e}")))?;
            records.push((n + 1, value));
        }
        records
    };
    let entries = records
        .into_iter()
        .map(|(line, v)| {
            match format {
                DatasetFormat::Sharegpt => sharegpt(&v),
                DatasetFormat::Jsonl => jsonl(&v),
            }
            .map_err(|m| (line, m))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if entries.is_empty() {
        return Err((1, "the dataset holds no entries".into()));
    }
    Ok(entries)
}

/// A prompt as the chat `messages` array of one user message.
pub fn user_message(prompt: &str) -> Value {
    serde_json::json!([{ "role": "user", "content": prompt }])
}

fn sharegpt(v: &Value) -> Result<DatasetEntry, String> {
    let turns = v["conversations"]
        .as_array()
        .ok_or("expected {\"conversations\": [{\"from\": \"human\", \"value\": \"...\"}, ...]}")?;
    let human = turns
        .iter()
        .position(|t| t["from"] == "human" || t["from"] == "user")
        .ok_or("the conversation has no `human` turn")?;
    let prompt = turns[human]["value"]
        .as_str()
        .ok_or("the human turn's `value` is not a string")?;
    let output = turns[human + 1..]
        .iter()
        .find(|t| t["from"] == "gpt" || t["from"] == "assistant")
        .and_then(|t| t["value"].as_str())
        .map(|answer| DatasetOutput::Text(answer.to_string()));
    let later_turns = turns[human + 1..]
        .iter()
        .filter(|t| t["from"] == "human" || t["from"] == "user")
        .filter_map(|t| t["value"].as_str().map(str::to_string))
        .collect();
    Ok(DatasetEntry {
        messages: user_message(prompt),
        output,
        later_turns,
    })
}

fn jsonl(v: &Value) -> Result<DatasetEntry, String> {
    let messages = match (&v["messages"], &v["prompt"]) {
        (Value::Array(m), _) if !m.is_empty() => Value::Array(m.clone()),
        (_, Value::String(p)) => user_message(p),
        _ => return Err("expected {\"prompt\": \"...\"} or {\"messages\": [...]}, with an optional \"output_tokens\": N".into()),
    };
    let output = match &v["output_tokens"] {
        Value::Null => None,
        n => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n > 0 => Some(DatasetOutput::Tokens(n)),
            _ => {
                return Err(format!(
                    "`output_tokens` must be a whole number ≥ 1, not {n}"
                ))
            }
        },
    };
    Ok(DatasetEntry {
        messages,
        output,
        later_turns: Vec::new(),
    })
}

/// The 1-based line where each element of a top-level JSON array starts (the text is valid JSON).
fn element_lines(text: &str) -> Vec<usize> {
    let (mut depth, mut in_string, mut escaped, mut line) = (0usize, false, false, 1);
    let mut expecting = false;
    let mut lines = Vec::new();
    for c in text.chars() {
        if c == '\n' {
            line += 1;
        }
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if depth == 1 && expecting && !c.is_whitespace() && c != ']' {
            lines.push(line);
            expecting = false;
        }
        match c {
            '"' => in_string = true,
            '[' | '{' => {
                depth += 1;
                expecting = depth == 1;
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            ',' if depth == 1 => expecting = true,
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharegpt_takes_the_first_human_turn_and_the_answer_after_it() {
        let text = r#"[
  {"id": "a", "conversations": [{"from": "system", "value": "x"}, {"from": "human", "value": "Hi [there]"}, {"from": "gpt", "value": "Hello!"}]},
  {"conversations": [{"from": "human", "value": "Only a question"}]}
]"#;
        let e = parse(text, DatasetFormat::Sharegpt).unwrap();
        assert_eq!(e[0].messages[0]["content"], "Hi [there]");
        assert_eq!(e[0].output, Some(DatasetOutput::Text("Hello!".into())));
        assert_eq!(e[1].output, None);
        assert!(e[0].later_turns.is_empty() && e[1].later_turns.is_empty());
        let multi = r#"{"conversations": [{"from": "human", "value": "1"}, {"from": "gpt", "value": "a"}, {"from": "human", "value": "2"}, {"from": "gpt", "value": "b"}, {"from": "user", "value": "3"}]}"#;
        let e = parse(multi, DatasetFormat::Sharegpt).unwrap();
        assert_eq!(e[0].messages[0]["content"], "1");
        assert_eq!(e[0].later_turns, ["2", "3"], "a session's later turns");
        let bad = text.replace(
            "\"human\", \"value\": \"Only",
            "\"robot\", \"value\": \"Only",
        );
        assert_eq!(parse(&bad, DatasetFormat::Sharegpt).unwrap_err().0, 3);
    }

    #[test]
    fn jsonl_errors_name_their_line() {
        let text = "{\"prompt\": \"a\", \"output_tokens\": 12}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"b\"}]}\n{\"prompt\": \"c\", \"output_tokens\": -1}\n";
        let (line, message) = parse(text, DatasetFormat::Jsonl).unwrap_err();
        assert_eq!(line, 4);
        assert!(message.contains("output_tokens"), "{message}");
        let good: String = text.lines().take(3).collect::<Vec<_>>().join("\n");
        let e = parse(&good, DatasetFormat::Jsonl).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].output, Some(DatasetOutput::Tokens(12)));
        assert_eq!(
            parse("{\"p\": 1}\n", DatasetFormat::Jsonl).unwrap_err().0,
            1
        );
        assert_eq!(
            parse("{\"prompt\": \"a\"}\n{oops\n", DatasetFormat::Jsonl)
                .unwrap_err()
                .0,
            2
        );
        assert!(parse("\n", DatasetFormat::Jsonl).is_err(), "empty");
    }
}
