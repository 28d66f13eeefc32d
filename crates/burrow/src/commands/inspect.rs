//! `burrow inspect NAME`: the runtime's [`burrow_runtime::lifecycle::Inspect`] as JSON, keys
//! sorted.

use super::{fail, Res};

pub fn inspect(name: &str) -> Res {
    let v = serde_json::to_value(burrow_runtime::lifecycle::inspect(name)?).map_err(fail)?;
    let text = serde_json::to_string_pretty(&v).map_err(|e| fail(format!("json: {e}")))?;
    println!("{text}");
    Ok(0)
}
