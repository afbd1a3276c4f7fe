//! The JSON envelope every saved model shares: `{"format": …, "version": …, "model": …}`, so a
//! file of another kind (or another tool's) is recognised and refused with a clear message.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

#[derive(Serialize)]
struct Envelope<'a, T> {
    format: &'a str,
    version: u32,
    model: &'a T,
}

#[derive(Deserialize)]
struct Incoming<T> {
    format: String,
    model: T,
}

/// Writes `model` under the `format` tag.
pub(crate) fn save<T: Serialize>(path: &Path, format: &str, model: &T) -> Result<()> {
    let envelope = Envelope {
        format,
        version: 1,
        model,
    };
    let text = serde_json::to_string(&envelope).expect("a model serialises");
    std::fs::write(path, text).map_err(|cause| ModelError::Io {
        path: path.to_path_buf(),
        cause,
    })
}

/// Reads a model saved under `format`, then lets `validate` check its consistency. `kind`
/// names the model in messages ("Gaussian mixture").
pub(crate) fn load<T: DeserializeOwned>(
    path: &Path,
    format: &str,
    kind: &'static str,
    validate: impl FnOnce(&T) -> std::result::Result<(), String>,
) -> Result<T> {
    let bad = |problem: String| ModelError::BadModelFile {
        path: path.to_path_buf(),
        expected: kind,
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|cause| ModelError::Io {
        path: path.to_path_buf(),
        cause,
    })?;
    let tag: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    if tag.get("format").and_then(|f| f.as_str()) != Some(format) {
        return Err(bad(format!(
            "its format tag is {}, expected {format:?}",
            tag.get("format")
                .map_or("missing".into(), |f| f.to_string())
        )));
    }
    let file: Incoming<T> = serde_json::from_value(tag).map_err(|e| bad(e.to_string()))?;
    debug_assert_eq!(file.format, format);
    validate(&file.model).map_err(bad)?;
    Ok(file.model)
}
