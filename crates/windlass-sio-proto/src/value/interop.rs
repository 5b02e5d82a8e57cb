//! Conversions between [`Value`] and `serde_json::Value`.

use super::{Map, Number, Value};

/// A [`Value`] holding binary data has no `serde_json::Value` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("binary data has no plain JSON form")]
pub struct BinaryInJson;

/// `serde_json` values convert losslessly: numbers keep their integer or float form, objects
/// take [`Map`]'s JavaScript key order (array-index keys first).
impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Self::Null,
            serde_json::Value::Bool(b) => Self::Bool(b),
            serde_json::Value::Number(n) => Self::Number(if let Some(u) = n.as_u64() {
                Number::from(u)
            } else if let Some(i) = n.as_i64() {
                Number::from(i)
            } else {
                Number::from(n.as_f64().unwrap_or(f64::NAN))
            }),
            serde_json::Value::String(s) => Self::String(s),
            serde_json::Value::Array(items) => Self::Array(items.into_iter().map(Self::from).collect()),
            serde_json::Value::Object(map) => {
                Self::Object(map.into_iter().map(|(k, v)| (k, Self::from(v))).collect::<Map>())
            }
        }
    }
}

/// Fails with [`BinaryInJson`] if the value holds binary anywhere (use [`Value::to_json`] for
/// Node's `{"type":"Buffer","data":[…]}` text instead). Non-finite numbers become `null`, as in
/// `JSON.stringify`.
impl TryFrom<Value> for serde_json::Value {
    type Error = BinaryInJson;
    fn try_from(value: Value) -> Result<Self, BinaryInJson> {
        Ok(match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(b),
            Value::Number(n) => {
                if let (true, Some(i)) = (n.is_integer(), n.as_i64()) {
                    Self::from(i)
                } else if let (true, Some(u)) = (n.is_integer(), n.as_u64()) {
                    Self::from(u)
                } else {
                    serde_json::Number::from_f64(n.as_f64()).map_or(Self::Null, Self::Number)
                }
            }
            Value::String(s) => Self::String(s),
            Value::Binary(_) => return Err(BinaryInJson),
            Value::Array(items) => {
                Self::Array(items.into_iter().map(Self::try_from).collect::<Result<_, _>>()?)
            }
            Value::Object(map) => Self::Object(
                map.into_iter()
                    .map(|(k, v)| Ok((k, Self::try_from(v)?)))
                    .collect::<Result<_, BinaryInJson>>()?,
            ),
        })
    }
}
