//! The public items of a crate, from its rustdoc JSON, one line each and
//! sorted: every item at the path users name it by (re-exports followed),
//! with its signature; struct fields, enum variants, methods of inherent
//! impls, trait items, and the traits each type implements (auto traits and
//! blanket impls left out: they follow from the rest).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::types::{bounds, fn_qualifiers, generics, list, path, signature, ty, variant};

/// The rustdoc JSON format this renderer reads (Rust 1.95's).
pub(crate) const FORMAT_VERSION: u64 = 57;

/// Every public item of `krate`, one line each, sorted.
///
/// # Errors
/// A message if the JSON is of another format version than
/// [`FORMAT_VERSION`] or lacks its root module, or if an item is public at
/// two paths (one path per public type: a second one is a leak, and two
/// names for one thing in users' code).
pub(crate) fn public_items(krate: &Value) -> Result<Vec<String>, String> {
    let version = krate["format_version"].as_u64().unwrap_or(0);
    if version != FORMAT_VERSION {
        return Err(format!(
            "rustdoc JSON format {version}, but this tool reads {FORMAT_VERSION}: \
             the toolchain changed; update tools/public-api"
        ));
    }
    let root = krate["root"].to_string();
    let name = krate["index"][&root]["name"]
        .as_str()
        .ok_or("the JSON has no root module")?
        .to_owned();
    let mut walker = Walker {
        krate,
        lines: BTreeSet::new(),
        visited: BTreeSet::new(),
        paths_by_item: BTreeMap::new(),
    };
    walker.module(&root, &name);
    let twice: Vec<String> = walker
        .paths_by_item
        .values()
        .filter(|paths| paths.len() > 1)
        .map(|paths| paths.iter().cloned().collect::<Vec<_>>().join(" and "))
        .collect();
    if !twice.is_empty() {
        return Err(format!(
            "items public at more than one path (keep one, make the others private):\n  {}",
            twice.join("\n  ")
        ));
    }
    Ok(walker.lines.into_iter().collect())
}

struct Walker<'a> {
    krate: &'a Value,
    lines: BTreeSet<String>,
    /// Modules already walked, so that a module re-exported twice (or a
    /// cycle of glob re-exports) is not walked forever.
    visited: BTreeSet<String>,
    /// Every path each item (by id, or by source for another crate's) is
    /// public at.
    paths_by_item: BTreeMap<String, BTreeSet<String>>,
}

impl Walker<'_> {
    fn item(&self, id: &str) -> Option<&Value> {
        self.krate["index"].get(id)
    }

    fn module(&mut self, id: &str, module_path: &str) {
        if !self.visited.insert(format!("{id} {module_path}")) {
            return;
        }
        let Some(module) = self.item(id) else { return };
        let items: Vec<String> = list(&module["inner"]["module"]["items"])
            .iter()
            .map(Value::to_string)
            .collect();
        for item_id in items {
            self.named_item(&item_id, module_path, None);
        }
    }

    /// The item `id`, named `name` (a re-export's) or its own name.
    fn named_item(&mut self, id: &str, module_path: &str, name: Option<&str>) {
        let Some(item) = self.item(id).cloned() else {
            return;
        };
        let (kind, inner) = variant(&item["inner"]);
        let item_name = name.or(item["name"].as_str()).unwrap_or("?");
        let at = format!("{module_path}::{item_name}");
        if kind != "use" {
            self.paths_by_item
                .entry(id.to_owned())
                .or_default()
                .insert(at.clone());
        }
        match kind {
            "use" => self.reexport(inner, module_path),
            "module" => {
                self.lines.insert(format!("pub mod {at}"));
                self.module(id, &at);
            }
            "struct" => self.structure(inner, &at),
            "enum" => self.enumeration(inner, &at),
            "union" => {
                self.lines.insert(format!("pub union {at}"));
            }
            "trait" => self.traits(inner, &at),
            "function" => {
                self.lines.insert(function(inner, &at));
            }
            "constant" => {
                self.lines
                    .insert(format!("pub const {at}: {}", ty(&inner["type"])));
            }
            "static" => {
                self.lines
                    .insert(format!("pub static {at}: {}", ty(&inner["type"])));
            }
            "type_alias" => {
                let (params, where_clause) = generics(&inner["generics"]);
                self.lines.insert(format!(
                    "pub type {at}{params} = {}{where_clause}",
                    ty(&inner["type"])
                ));
            }
            "macro" => {
                self.lines.insert(format!("macro {at}!"));
            }
            other => {
                self.lines.insert(format!("?{other} {at}"));
            }
        }
    }

    fn reexport(&mut self, reexport: &Value, module_path: &str) {
        let name = reexport["name"].as_str().unwrap_or("?");
        let source = reexport["source"].as_str().unwrap_or("?");
        let target = reexport["id"].to_string();
        match (
            self.item(&target).is_some(),
            reexport["is_glob"].as_bool() == Some(true),
        ) {
            (true, true) => self.module(&target, module_path),
            (true, false) => self.named_item(&target, module_path, Some(name)),
            // An item of another crate that rustdoc did not inline: its API is
            // that crate's; what is pinned here is that it is re-exported.
            (false, true) => {
                self.lines
                    .insert(format!("pub use {module_path}::* (from {source})"));
            }
            (false, false) => {
                self.lines
                    .insert(format!("pub use {module_path}::{name} (from {source})"));
            }
        }
    }

    fn structure(&mut self, inner: &Value, at: &str) {
        let (params, where_clause) = generics(&inner["generics"]);
        let (kind, shape) = variant(&inner["kind"]);
        let fields: Vec<String> = match kind {
            "plain" => list(&shape["fields"])
                .iter()
                .map(Value::to_string)
                .collect(),
            "tuple" => list(shape)
                .iter()
                .filter(|field| !field.is_null())
                .map(Value::to_string)
                .collect(),
            _ => Vec::new(),
        };
        self.lines
            .insert(format!("pub struct {at}{params}{where_clause}"));
        for field in fields {
            self.field(&field, at);
        }
        self.impls(&inner["impls"], at);
    }

    fn field(&mut self, id: &str, owner: &str) {
        if let Some(field) = self.item(id) {
            let name = field["name"].as_str().unwrap_or("?");
            let field_type = ty(&field["inner"]["struct_field"]);
            self.lines
                .insert(format!("pub {owner}::{name}: {field_type}"));
        }
    }

    fn enumeration(&mut self, inner: &Value, at: &str) {
        let (params, where_clause) = generics(&inner["generics"]);
        self.lines
            .insert(format!("pub enum {at}{params}{where_clause}"));
        for id in list(&inner["variants"]).iter().map(Value::to_string) {
            let Some(item) = self.item(&id).cloned() else {
                continue;
            };
            let name = item["name"].as_str().unwrap_or("?");
            let (kind, shape) = variant(&item["inner"]["variant"]["kind"]);
            let fields: Vec<String> = match kind {
                "plain" => Vec::new(),
                "tuple" => list(shape)
                    .iter()
                    .filter(|field| !field.is_null())
                    .map(Value::to_string)
                    .collect(),
                "struct" => list(&shape["fields"])
                    .iter()
                    .map(Value::to_string)
                    .collect(),
                _ => Vec::new(),
            };
            let variant_path = format!("{at}::{name}");
            if kind == "tuple" {
                let types: Vec<String> = fields
                    .iter()
                    .filter_map(|field| self.item(field))
                    .map(|field| ty(&field["inner"]["struct_field"]))
                    .collect();
                self.lines
                    .insert(format!("pub variant {variant_path}({})", types.join(", ")));
            } else {
                self.lines.insert(format!("pub variant {variant_path}"));
                for field in fields {
                    self.field(&field, &variant_path);
                }
            }
        }
        self.impls(&inner["impls"], at);
    }

    fn traits(&mut self, inner: &Value, at: &str) {
        let (params, where_clause) = generics(&inner["generics"]);
        let supertraits = bounds(&inner["bounds"]);
        let supertraits = if supertraits.is_empty() {
            String::new()
        } else {
            format!(": {supertraits}")
        };
        let unsafe_word = if inner["is_unsafe"].as_bool() == Some(true) {
            "unsafe "
        } else {
            ""
        };
        self.lines.insert(format!(
            "pub {unsafe_word}trait {at}{params}{supertraits}{where_clause}"
        ));
        for id in list(&inner["items"]).iter().map(Value::to_string) {
            self.associated(&id, at);
        }
    }

    fn impls(&mut self, impls: &Value, at: &str) {
        for id in list(impls).iter().map(Value::to_string) {
            let Some(item) = self.item(&id).cloned() else {
                continue;
            };
            let imp = &item["inner"]["impl"];
            if imp["is_synthetic"].as_bool() == Some(true) || !imp["blanket_impl"].is_null() {
                continue;
            }
            let (params, where_clause) = generics(&imp["generics"]);
            match &imp["trait"] {
                Value::Null => {
                    for method in list(&imp["items"]).iter().map(Value::to_string) {
                        self.associated(&method, at);
                    }
                }
                trait_path => {
                    let negative = if imp["is_negative"].as_bool() == Some(true) {
                        "!"
                    } else {
                        ""
                    };
                    // The type by the path users name it (its own name may
                    // be renamed by a re-export), with its arguments.
                    let for_type = match variant(&imp["for"]) {
                        ("resolved_path", resolved) => {
                            let written = path(resolved);
                            let name = resolved["path"].as_str().unwrap_or("?");
                            format!("{at}{}", &written[name.len()..])
                        }
                        _ => ty(&imp["for"]),
                    };
                    self.lines.insert(format!(
                        "impl{params} {negative}{} for {for_type}{where_clause}",
                        path(trait_path)
                    ));
                }
            }
        }
    }

    /// A method, associated type or constant of a trait or inherent impl.
    fn associated(&mut self, id: &str, owner: &str) {
        let Some(item) = self.item(id).cloned() else {
            return;
        };
        // An inherent impl lists private methods too; only public ones are API.
        if item["visibility"].as_str() == Some("crate") || item["visibility"].is_object() {
            return;
        }
        let name = item["name"].as_str().unwrap_or("?");
        let at = format!("{owner}::{name}");
        let (kind, inner) = variant(&item["inner"]);
        let line = match kind {
            "function" => function(inner, &at),
            "assoc_type" => {
                let bounds = bounds(&inner["bounds"]);
                let bounds = if bounds.is_empty() {
                    String::new()
                } else {
                    format!(": {bounds}")
                };
                match &inner["type"] {
                    Value::Null => format!("type {at}{bounds}"),
                    default => format!("type {at}{bounds} = {}", ty(default)),
                }
            }
            "assoc_const" => format!("const {at}: {}", ty(&inner["type"])),
            other => format!("?{other} {at}"),
        };
        self.lines.insert(line);
    }
}

fn function(inner: &Value, at: &str) -> String {
    let (params, where_clause) = generics(&inner["generics"]);
    format!(
        "pub {}fn {at}{params}{}{where_clause}",
        fn_qualifiers(&inner["header"]),
        signature(&inner["sig"])
    )
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A crate whose root holds struct `Thing` and, if `reexported`, a
    /// public module re-exporting it too.
    fn krate(reexported: bool) -> Value {
        let mut root_items = vec![json!(1)];
        if reexported {
            root_items.push(json!(2));
        }
        json!({
            "format_version": FORMAT_VERSION,
            "root": 0,
            "index": {
                "0": {"name": "demo", "inner": {"module": {"items": root_items}}},
                "1": {"name": "Thing", "inner": {"struct": {
                    "kind": {"plain": {"fields": [], "has_stripped_fields": false}},
                    "generics": {"params": [], "where_predicates": []}, "impls": []}}},
                "2": {"name": "again", "inner": {"module": {"items": [3]}}},
                "3": {"name": null, "inner": {"use": {
                    "source": "super::Thing", "name": "Thing", "id": 1, "is_glob": false}}}
            }
        })
    }

    #[test]
    fn an_item_at_one_path_is_listed() {
        assert_eq!(
            public_items(&krate(false)),
            Ok(vec!["pub struct demo::Thing".to_owned()])
        );
    }

    #[test]
    fn an_item_public_at_two_paths_is_refused() {
        let error = public_items(&krate(true)).expect_err("two paths must be refused");
        assert!(
            error.contains("demo::Thing and demo::again::Thing"),
            "{error}"
        );
    }
}
