//! A transcript: a scenario's etcdctl commands, each one's exit status,
//! stdout and stderr, either recorded from a real etcd 3.4 into
//! `tests/etcdctl_expected/SCENARIO/` (record mode, what
//! `tools/record-etcdctl-expectations.sh` runs) or compared with that
//! recording after normalization (`normalize.rs`).
//!
//! Record mode is on when `ORDO_ETCDCTL_RECORD_ENDPOINTS` names the etcd
//! members (`HOST:PORT,...`); the files are then written from what etcd
//! printed, never by hand. A step whose output differs from etcd's on
//! purpose says why and what ordo prints instead ([`Step::differs`]).

use std::path::PathBuf;
use std::time::Duration;

use super::normalize::{Context, Rule, normalize, own_stderr};
use super::{COMMAND_TIMEOUT, Etcdctl, Printed};

/// The etcd members to record from, if this is a recording run.
pub fn recording_endpoints() -> Option<Vec<String>> {
    let endpoints = std::env::var("ORDO_ETCDCTL_RECORD_ENDPOINTS").ok()?;
    Some(endpoints.split(',').map(str::to_owned).collect())
}

/// One command of a scenario.
pub struct Step {
    name: String,
    args: Vec<String>,
    stdin: String,
    /// For commands that do not end by themselves: how many lines to take.
    lines: Option<usize>,
    rules: Vec<Rule>,
    within: Duration,
    /// Why ordo prints something else here, and what it prints (normalized).
    differs: Option<(&'static str, String)>,
}

impl Step {
    /// `etcdctl ARGS`, recorded as `NAME`.
    pub fn new(name: &str, args: &[&str]) -> Step {
        Step {
            name: name.to_owned(),
            args: args.iter().map(|arg| (*arg).to_owned()).collect(),
            stdin: String::new(),
            lines: None,
            rules: Vec::new(),
            within: COMMAND_TIMEOUT,
            differs: None,
        }
    }

    /// With `stdin`.
    pub fn stdin(mut self, stdin: &str) -> Step {
        self.stdin = stdin.to_owned();
        self
    }

    /// A command that does not end by itself: its first `lines` lines.
    pub fn first_lines(mut self, lines: usize) -> Step {
        self.lines = Some(lines);
        self
    }

    /// With a per-step normalization rule.
    pub fn rule(mut self, rule: Rule) -> Step {
        self.rules.push(rule);
        self
    }

    /// Allowed to run for `within`.
    pub fn within(mut self, within: Duration) -> Step {
        self.within = within;
        self
    }

    /// Ordo prints `ordo_prints` (normalized) instead of etcd's recording,
    /// on purpose, `because`.
    pub fn differs(mut self, because: &'static str, ordo_prints: &str) -> Step {
        self.differs = Some((because, ordo_prints.to_owned()));
        self
    }
}

/// A scenario's run, recording or comparing.
pub struct Transcript {
    dir: PathBuf,
    recording: bool,
    /// This run's named values.
    pub context: Context,
    /// What ran against ordo, compared in [`Transcript::finish`].
    ran: Vec<Ran>,
}

impl Transcript {
    /// The transcript of `scenario`.
    pub fn new(scenario: &str) -> Transcript {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/etcdctl_expected")
            .join(scenario);
        let recording = recording_endpoints().is_some();
        if recording {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
        }
        Transcript {
            dir,
            recording,
            context: Context::default(),
            ran: Vec::new(),
        }
    }

    /// Whether this run records etcd rather than checks ordo.
    pub fn recording(&self) -> bool {
        self.recording
    }

    /// Runs `step` with `etcd`, records or compares it; answers what it printed.
    pub async fn run(&mut self, etcd: &Etcdctl, step: Step) -> Printed {
        let args: Vec<&str> = step.args.iter().map(String::as_str).collect();
        let printed = match step.lines {
            Some(lines) => etcd.first_lines(&args, &step.stdin, lines).await,
            None => etcd.run_within(&args, &step.stdin, step.within).await,
        };
        let file = self
            .dir
            .join(format!("{:02}-{}.txt", self.ran.len() + 1, step.name));
        let document = document(&printed);
        if self.recording {
            std::fs::write(&file, &document).unwrap();
        }
        self.ran.push(Ran {
            file,
            args: step.args.join(" "),
            document,
            rules: step.rules,
            differs: step.differs,
        });
        printed
    }

    fn recorded_context(&self) -> Context {
        let text = std::fs::read_to_string(self.dir.join("context.txt")).unwrap_or_default();
        Context::from_text(&text)
    }

    /// Writes the context (recording), or compares every command run with
    /// its recording (now that the context names every value) and fails
    /// with every mismatch.
    pub fn finish(self) {
        if self.recording {
            std::fs::write(self.dir.join("context.txt"), self.context.to_text()).unwrap();
            eprintln!(
                "recorded {} commands in {}",
                self.ran.len(),
                self.dir.display()
            );
            return;
        }
        let recorded_context = self.recorded_context();
        let mismatches: Vec<String> = self
            .ran
            .iter()
            .filter_map(|ran| ran.mismatch(&self.context, &recorded_context))
            .collect();
        assert!(
            mismatches.is_empty(),
            "{} of {} etcdctl commands printed other than etcd 3.4 (after normalization):\n\n{}",
            mismatches.len(),
            self.ran.len(),
            mismatches.join("\n")
        );
    }
}

/// A command run against ordo, to compare once the run is over.
struct Ran {
    file: PathBuf,
    args: String,
    document: String,
    rules: Vec<Rule>,
    differs: Option<(&'static str, String)>,
}

impl Ran {
    /// What differs from the recording, if anything.
    fn mismatch(&self, context: &Context, recorded_context: &Context) -> Option<String> {
        let actual = normalize(&self.document, context, &self.rules);
        let expected = match &self.differs {
            Some((_, ordo_prints)) => ordo_prints.clone(),
            None => match std::fs::read_to_string(&self.file) {
                Ok(recorded) => normalize(&recorded, recorded_context, &self.rules),
                Err(error) => format!("(no recording at {}: {error})\n", self.file.display()),
            },
        };
        if actual == expected {
            return None;
        }
        let why = self
            .differs
            .as_ref()
            .map(|(because, _)| format!(" (differs from etcd on purpose: {because})"))
            .unwrap_or_default();
        Some(format!(
            "{} `etcdctl {}`{why}\n--- expected\n{expected}--- ordo printed\n{actual}",
            self.file.display(),
            self.args,
        ))
    }
}

/// What a command printed, as a transcript file holds it.
fn document(printed: &Printed) -> String {
    let exit = match printed.code {
        Some(code) => format!("exit: {code}"),
        None => "exit: (stopped by the test)".to_owned(),
    };
    format!(
        "{exit}\n--- stdout\n{}--- stderr\n{}",
        with_newline(&printed.stdout),
        own_stderr(&printed.stderr)
    )
}

fn with_newline(text: &str) -> String {
    if text.is_empty() || text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n(no newline at the end)\n")
    }
}
