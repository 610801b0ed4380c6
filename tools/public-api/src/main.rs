//! `cargo run -p public-api -- check`: the public API of `ordo` and
//! `ordo-core`, as rustdoc sees it, must equal the committed
//! `crates/<crate>/public-api.txt`, so that an API change shows in review.
//! `cargo run -p public-api -- bless` rewrites the files after an intended
//! change.
//!
//! The API comes from rustdoc's JSON output, which is unstable: it is
//! produced by the stable toolchain with `RUSTC_BOOTSTRAP=1` (no nightly, no
//! network, no extra install), and this tool reads one format version
//! ([`render::FORMAT_VERSION`]); another toolchain's format fails loudly.
//! Items hidden from the docs (`#[doc(hidden)]`, such as `ordo`'s wire
//! codec) are not API and are not listed. Default features only. An item
//! public at two paths fails the check too: one path per public type.

mod render;
mod types;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The crates whose API is pinned, by package name.
const CRATES: [&str; 2] = ["ordo", "ordo-core"];

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode != "check" && mode != "bless" {
        eprintln!("usage: cargo run -p public-api -- check|bless");
        return ExitCode::from(2);
    }
    let mut differs = false;
    for package in CRATES {
        match current_api(package) {
            Ok(api) => differs |= !compare_or_bless(package, &api, mode == "bless"),
            Err(error) => {
                eprintln!("public-api: {package}: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    if differs {
        eprintln!(
            "public-api: the public API changed. If the change is intended, run\n    \
             cargo run -p public-api -- bless\nand commit the updated public-api.txt files."
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// The workspace this tool lives in (`tools/public-api` under it).
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

/// Documents `package` as JSON and renders its public items, one per line.
fn current_api(package: &str) -> Result<String, String> {
    let root = workspace_root();
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&root)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["rustdoc", "--quiet", "--locked", "--lib", "-p", package])
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .status()
        .map_err(|error| format!("could not run cargo rustdoc: {error}"))?;
    if !status.success() {
        return Err(format!("cargo rustdoc failed ({status})"));
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let json_path = target
        .join("doc")
        .join(format!("{}.json", package.replace('-', "_")));
    let json = std::fs::read_to_string(&json_path)
        .map_err(|error| format!("reading {}: {error}", json_path.display()))?;
    let krate: serde_json::Value = serde_json::from_str(&json)
        .map_err(|error| format!("parsing {}: {error}", json_path.display()))?;
    let lines = render::public_items(&krate)?;
    Ok(lines.join("\n") + "\n")
}

/// Compares `api` with the committed file (or rewrites it when blessing);
/// false if they differ, after printing the difference.
fn compare_or_bless(package: &str, api: &str, bless: bool) -> bool {
    let path = workspace_root()
        .join("crates")
        .join(package)
        .join("public-api.txt");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == api {
        println!("public-api: {package}: unchanged");
        return true;
    }
    if bless {
        if let Err(error) = std::fs::write(&path, api) {
            eprintln!("public-api: writing {}: {error}", path.display());
            return false;
        }
        println!("public-api: {package}: wrote {}", path.display());
        return true;
    }
    eprintln!("public-api: {package}: differs from crates/{package}/public-api.txt:");
    for line in difference(&committed, api) {
        eprintln!("{line}");
    }
    false
}

/// Lines only in `committed` (`-`) and only in `current` (`+`); both are
/// sorted sets of lines, so this is the whole difference.
fn difference(committed: &str, current: &str) -> Vec<String> {
    let old: std::collections::BTreeSet<&str> = committed.lines().collect();
    let new: std::collections::BTreeSet<&str> = current.lines().collect();
    let removed = old.difference(&new).map(|line| format!("- {line}"));
    let added = new.difference(&old).map(|line| format!("+ {line}"));
    removed.chain(added).collect()
}

#[cfg(test)]
mod tests {
    use super::difference;

    #[test]
    fn the_difference_names_removed_and_added_lines() {
        let committed = "fn a()\nfn b()\n";
        let current = "fn a()\nfn c()\n";
        assert_eq!(difference(committed, current), ["- fn b()", "+ fn c()"]);
        assert!(difference(current, current).is_empty());
    }
}
