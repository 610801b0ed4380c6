//! A runner for transcript tests: files of commands, each followed by the
//! output it must produce.
//!
//! ```text
//! # Comments and blank lines are kept as they are.
//! campaign 1
//! ----
//! 1: became PreCandidate term=0 leader=none
//! ```
//!
//! A command's output ends at the first blank line, so outputs never contain
//! one (empty output is written as `ok`). Run with `REWRITE=1` to write the
//! actual outputs back into the files after an intended behaviour change, then
//! review the diff like any other code change.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// One command line of a transcript: `name pos1 pos2 key=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Line number in the file, from 1.
    pub line: usize,
    /// The first word.
    pub name: String,
    /// Words without `=`.
    pub args: Vec<String>,
    /// Words `key=value`.
    pub options: BTreeMap<String, String>,
}

impl Command {
    /// Parses one command line.
    pub fn parse(line: usize, text: &str) -> Command {
        let mut words = text.split_whitespace();
        let name = words.next().unwrap_or_default().to_string();
        let (mut args, mut options) = (Vec::new(), BTreeMap::new());
        for word in words {
            match word.split_once('=') {
                Some((key, value)) => {
                    options.insert(key.to_string(), value.to_string());
                }
                None => args.push(word.to_string()),
            }
        }
        Command {
            line,
            name,
            args,
            options,
        }
    }
}

enum Block {
    Verbatim(String),
    Case {
        line: usize,
        command: String,
        expected: String,
    },
}

fn parse(text: &str) -> Result<Vec<Block>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut at = 0;
    while at < lines.len() {
        let line = lines[at];
        if line.trim().is_empty() || line.starts_with('#') {
            blocks.push(Block::Verbatim(line.to_string()));
            at += 1;
            continue;
        }
        if lines.get(at + 1) != Some(&"----") {
            return Err(format!(
                "line {}: command {line:?} must be followed by a ---- line",
                at + 1
            ));
        }
        let start = at + 2;
        let mut end = start;
        while end < lines.len() && !lines[end].trim().is_empty() {
            end += 1;
        }
        blocks.push(Block::Case {
            line: at + 1,
            command: line.to_string(),
            expected: lines[start..end].join("\n"),
        });
        at = end;
    }
    Ok(blocks)
}

fn normalize(output: &str) -> String {
    let kept: Vec<&str> = output
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    if kept.is_empty() {
        "ok".to_string()
    } else {
        kept.join("\n")
    }
}

/// Runs every case of the transcript at `path` through `run`, in order.
///
/// # Panics
/// If any output differs from the transcript (listing every difference), or
/// the file cannot be read or parsed. With `REWRITE=1` in the environment the
/// file is rewritten with the actual outputs instead.
pub fn run_file(path: &Path, mut run: impl FnMut(&Command) -> String) {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let blocks = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rewrite = std::env::var_os("REWRITE").is_some();
    let (mut rewritten, mut failures) = (String::new(), String::new());
    for block in blocks {
        match block {
            Block::Verbatim(line) => {
                let _ = writeln!(rewritten, "{line}");
            }
            Block::Case {
                line,
                command,
                expected,
            } => {
                let actual = normalize(&run(&Command::parse(line, &command)));
                if actual != expected {
                    let _ = write!(
                        failures,
                        "\n{}:{line}: {command}\n--- expected\n{expected}\n--- actual\n{actual}\n",
                        path.display()
                    );
                }
                let _ = writeln!(rewritten, "{command}\n----\n{actual}");
            }
        }
    }
    if rewrite {
        std::fs::write(path, rewritten)
            .unwrap_or_else(|e| panic!("rewriting {}: {e}", path.display()));
    } else if !failures.is_empty() {
        panic!("transcript mismatch (run with REWRITE=1 to accept the actual output):{failures}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_positional_and_keyed_words() {
        let command = Command::parse(3, "deliver 1 2 drop=true");
        assert_eq!(command.name, "deliver");
        assert_eq!(command.args, ["1", "2"]);
        assert_eq!(
            command.options.get("drop").map(String::as_str),
            Some("true")
        );
    }

    #[test]
    fn splits_cases_at_blank_lines() {
        let blocks = parse("# c\na\n----\nx\ny\n\nb\n----\nok\n").unwrap_or_default();
        let cases: Vec<(String, String)> = blocks
            .into_iter()
            .filter_map(|b| match b {
                Block::Case {
                    command, expected, ..
                } => Some((command, expected)),
                Block::Verbatim(_) => None,
            })
            .collect();
        assert_eq!(
            cases,
            [("a".into(), "x\ny".into()), ("b".into(), "ok".into())]
        );
    }

    #[test]
    fn a_command_without_separator_is_an_error() {
        assert!(parse("a\nb\n").is_err());
    }

    #[test]
    #[should_panic(expected = "transcript mismatch")]
    fn a_wrong_output_fails_the_run() {
        let dir = std::env::temp_dir().join(format!("ordo-transcript-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("wrong.txt");
        let _ = std::fs::write(&path, "echo hi\n----\nbye\n");
        if std::env::var_os("REWRITE").is_some() {
            panic!("transcript mismatch (not checked under REWRITE)");
        }
        run_file(&path, |c| c.args.join(" "));
    }
}
