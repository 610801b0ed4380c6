//! Rendering rustdoc JSON types, generics and function signatures as Rust
//! source, close to how they were written. Anything this renderer does not
//! know is written as `?<kind>`, which a reviewer would notice, never dropped.

use serde_json::Value;

/// The single key of a JSON object used as a tagged enum, and its value.
pub(crate) fn variant(value: &Value) -> (&str, &Value) {
    match value {
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next().unwrap_or_else(|| unreachable!("len 1"));
            (key.as_str(), inner)
        }
        Value::String(tag) => (tag.as_str(), &Value::Null),
        _ => ("?", &Value::Null),
    }
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or("?")
}

/// A type.
pub(crate) fn ty(value: &Value) -> String {
    let (kind, inner) = variant(value);
    match kind {
        "resolved_path" => path(inner),
        "generic" | "primitive" => inner.as_str().unwrap_or("?").to_owned(),
        "tuple" => {
            let items: Vec<String> = list(inner).iter().map(ty).collect();
            if items.len() == 1 {
                format!("({},)", items[0])
            } else {
                format!("({})", items.join(", "))
            }
        }
        "slice" => format!("[{}]", ty(inner)),
        "array" => format!("[{}; {}]", ty(&inner["type"]), str_of(inner, "len")),
        "borrowed_ref" => {
            let lifetime = inner["lifetime"]
                .as_str()
                .map(|lifetime| format!("{lifetime} "))
                .unwrap_or_default();
            let mutable = if inner["is_mutable"].as_bool() == Some(true) {
                "mut "
            } else {
                ""
            };
            format!("&{lifetime}{mutable}{}", ty(&inner["type"]))
        }
        "raw_pointer" => {
            let mutable = if inner["is_mutable"].as_bool() == Some(true) {
                "mut"
            } else {
                "const"
            };
            format!("*{mutable} {}", ty(&inner["type"]))
        }
        "qualified_path" => {
            let self_type = ty(&inner["self_type"]);
            let name = str_of(inner, "name");
            match &inner["trait"] {
                Value::Null => format!("{self_type}::{name}"),
                trait_path => format!("<{self_type} as {}>::{name}", path(trait_path)),
            }
        }
        "impl_trait" => format!("impl {}", bounds(inner)),
        "dyn_trait" => {
            let mut parts: Vec<String> = list(&inner["traits"])
                .iter()
                .map(|poly| path(&poly["trait"]))
                .collect();
            if let Some(lifetime) = inner["lifetime"].as_str() {
                parts.push(lifetime.to_owned());
            }
            format!("dyn {}", parts.join(" + "))
        }
        "function_pointer" => format!("fn{}", signature(&inner["sig"])),
        "infer" => "_".to_owned(),
        "pat" => ty(&inner["type"]),
        other => format!("?{other}"),
    }
}

/// A path with its generic arguments: `Result<(), StorageError>`.
pub(crate) fn path(value: &Value) -> String {
    format!("{}{}", str_of(value, "path"), args(&value["args"]))
}

fn args(value: &Value) -> String {
    let (kind, inner) = variant(value);
    match kind {
        "angle_bracketed" => {
            let mut parts: Vec<String> = list(&inner["args"]).iter().map(arg).collect();
            parts.extend(list(&inner["constraints"]).iter().map(constraint));
            if parts.is_empty() {
                String::new()
            } else {
                format!("<{}>", parts.join(", "))
            }
        }
        "parenthesized" => {
            let inputs: Vec<String> = list(&inner["inputs"]).iter().map(ty).collect();
            let output = match &inner["output"] {
                Value::Null => String::new(),
                output => format!(" -> {}", ty(output)),
            };
            format!("({}){output}", inputs.join(", "))
        }
        "?" if value.is_null() => String::new(),
        other => format!("<?{other}>"),
    }
}

fn arg(value: &Value) -> String {
    let (kind, inner) = variant(value);
    match kind {
        "type" => ty(inner),
        "lifetime" => inner.as_str().unwrap_or("?").to_owned(),
        "const" => str_of(inner, "expr").to_owned(),
        "infer" => "_".to_owned(),
        other => format!("?{other}"),
    }
}

fn constraint(value: &Value) -> String {
    let name = format!("{}{}", str_of(value, "name"), args(&value["args"]));
    let (kind, inner) = variant(&value["binding"]);
    match kind {
        "equality" => {
            let (term_kind, term) = variant(inner);
            let term = if term_kind == "type" {
                ty(term)
            } else {
                str_of(term, "expr").to_owned()
            };
            format!("{name} = {term}")
        }
        "constraint" => format!("{name}: {}", bounds(inner)),
        other => format!("{name} ?{other}"),
    }
}

/// `A + B + 'a`.
pub(crate) fn bounds(value: &Value) -> String {
    let rendered: Vec<String> = list(value).iter().map(bound).collect();
    rendered.join(" + ")
}

fn bound(value: &Value) -> String {
    let (kind, inner) = variant(value);
    match kind {
        "trait_bound" => {
            let modifier = match inner["modifier"].as_str() {
                Some("maybe") => "?",
                Some("maybe_const") => "~const ",
                _ => "",
            };
            format!("{modifier}{}", path(&inner["trait"]))
        }
        "outlives" => inner.as_str().unwrap_or("?").to_owned(),
        "use" => "use<..>".to_owned(),
        other => format!("?{other}"),
    }
}

/// `<T: Bound, 'a>` (synthetic parameters of `impl Trait` arguments left
/// out) and ` where ...`.
pub(crate) fn generics(value: &Value) -> (String, String) {
    let params: Vec<String> = list(&value["params"])
        .iter()
        .filter_map(generic_param)
        .collect();
    let params = if params.is_empty() {
        String::new()
    } else {
        format!("<{}>", params.join(", "))
    };
    let predicates: Vec<String> = list(&value["where_predicates"])
        .iter()
        .map(predicate)
        .collect();
    let where_clause = if predicates.is_empty() {
        String::new()
    } else {
        format!(" where {}", predicates.join(", "))
    };
    (params, where_clause)
}

fn generic_param(value: &Value) -> Option<String> {
    let name = str_of(value, "name");
    let (kind, inner) = variant(&value["kind"]);
    match kind {
        "lifetime" => Some(name.to_owned()),
        "type" if inner["is_synthetic"].as_bool() == Some(true) => None,
        "type" => {
            let bounds = bounds(&inner["bounds"]);
            Some(if bounds.is_empty() {
                name.to_owned()
            } else {
                format!("{name}: {bounds}")
            })
        }
        "const" => Some(format!("const {name}: {}", ty(&inner["type"]))),
        other => Some(format!("?{other}")),
    }
}

fn predicate(value: &Value) -> String {
    let (kind, inner) = variant(value);
    match kind {
        "bound_predicate" => format!("{}: {}", ty(&inner["type"]), bounds(&inner["bounds"])),
        "lifetime_predicate" => format!(
            "{}: {}",
            str_of(inner, "lifetime"),
            list(&inner["outlives"])
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" + ")
        ),
        "eq_predicate" => format!("{} = {}", ty(&inner["lhs"]), arg(&inner["rhs"])),
        other => format!("?{other}"),
    }
}

/// `(self: &Self, persist: Persist) -> Result<(), StorageError>`.
pub(crate) fn signature(sig: &Value) -> String {
    let inputs: Vec<String> = list(&sig["inputs"])
        .iter()
        .map(|input| {
            let name = input[0].as_str().unwrap_or("_");
            format!("{name}: {}", ty(&input[1]))
        })
        .collect();
    let output = match &sig["output"] {
        Value::Null => String::new(),
        output => format!(" -> {}", ty(output)),
    };
    format!("({}){output}", inputs.join(", "))
}

/// `const async unsafe ` as the header says.
pub(crate) fn fn_qualifiers(header: &Value) -> String {
    let mut qualifiers = String::new();
    for (flag, word) in [
        ("is_const", "const "),
        ("is_async", "async "),
        ("is_unsafe", "unsafe "),
    ] {
        if header[flag].as_bool() == Some(true) {
            qualifiers.push_str(word);
        }
    }
    qualifiers
}

pub(crate) fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn types_render_as_source() {
        let result = json!({"resolved_path": {"path": "Result", "id": 1, "args": {"angle_bracketed": {
            "args": [{"type": {"tuple": []}}, {"type": {"borrowed_ref": {"lifetime": "'a", "is_mutable": true,
                "type": {"slice": {"primitive": "u8"}}}}}],
            "constraints": []}}}});
        assert_eq!(ty(&result), "Result<(), &'a mut [u8]>");
        let dyn_trait = json!({"dyn_trait": {"traits": [{"trait": {"path": "Write", "id": 2, "args": null},
            "generic_params": []}], "lifetime": null}});
        assert_eq!(
            ty(&json!({"borrowed_ref": {"lifetime": null, "is_mutable": true, "type": dyn_trait}})),
            "&mut dyn Write"
        );
        assert_eq!(
            ty(&json!({"strange_new_kind": {}})),
            "?strange_new_kind",
            "unknown kinds show"
        );
    }
}
