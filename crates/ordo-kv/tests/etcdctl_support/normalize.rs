//! What is taken out of etcdctl's output before ordo's is compared with
//! etcd 3.4's: only what differs between any two runs, or between the two
//! systems on purpose (README's etcd table). Everything else — field names
//! and their order, table layout, JSON keys, messages, error texts, exit
//! statuses — must match exactly.
//!
//! In order:
//! 1. stderr keeps only what etcdctl itself prints (`Error: ...`): the
//!    client library's JSON log lines (`{"level":...}`, with timestamps
//!    and retry counts) are dropped.
//! 2. Named values of the run ([`Context`]) become their names: member ids
//!    (hex, as etcdctl's `%16x`, and decimal) and names by role (`leader`,
//!    `follower` — the member asked —, `other`, `added`), the cluster id,
//!    lease ids (`%016x`, and in hex after `/` in lock and election keys),
//!    the temporary directory. The test's ordo members have large ids so
//!    that an id never equals a small number such as a term or a count.
//! 3. Numbers that differ run to run: ports (`127.0.0.1:<port>`), JSON
//!    and `-w fields` revisions, terms, raft indexes, ids, db sizes, hashes
//!    and TTLs by key; `compacted revision <rev>`; `took = <duration>`;
//!    `remaining(<s>)`; sizes (`20 kB`); versions (etcd 3.4.23 reports its
//!    own; ordo reports 3.5.0, the API level it serves).
//! 4. Tables keep their rows, columns and borders but not their widths
//!    (which follow the values of step 2 and 3): runs of `-` in borders and
//!    of spaces in rows become one.
//! 5. Per step, only where the step says so ([`Rule`]): every number
//!    (`endpoint status`/`hashkv` rows: raft terms and indexes, hashes;
//!    `del` of the keys that filled the quota; `check perf`'s figures),
//!    rows compared in sorted order (`member list`, and the members in
//!    `member add`'s `ETCD_INITIAL_CLUSTER`: etcd lists members by its
//!    random ids), a progress bar's last drawing, and `check perf`'s
//!    verdicts.

use regex::Regex;

/// The values of one run that become names (rule 2).
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// `(name, value)`, substituted in this order.
    pub values: Vec<(String, String)>,
}

impl Context {
    /// Names a member: its id by role, and its name.
    pub fn member(&mut self, role: &str, id: u64, name: &str) {
        if !name.is_empty() {
            self.add(&format!("<name:{role}>"), name);
        }
        self.add(&format!("<member:{role}>"), &format!("{id:>16x}"));
        self.add(&format!("<member:{role}>"), &format!("{id:x}"));
        self.add(&format!("<member:{role}>"), &id.to_string());
    }

    /// Names the cluster id.
    pub fn cluster(&mut self, id: u64) {
        // etcdctl prints it as `%16x`: an id under 16 hex digits (one run
        // in sixteen) comes space-padded, as a member id does.
        self.add("<cluster>", &format!("{id:>16x}"));
        self.add("<cluster>", &format!("{id:x}"));
        self.add("<cluster>", &id.to_string());
    }

    /// Names a lease id.
    pub fn lease(&mut self, name: &str, id: u64) {
        self.add(&format!("<lease:{name}>"), &format!("{id:016x}"));
        self.add(&format!("<lease:{name}>"), &format!("/{id:x}"));
    }

    /// Names any other value.
    pub fn add(&mut self, name: &str, value: &str) {
        self.values.push((name.to_owned(), value.to_owned()));
    }

    /// The context as `context.txt` stores it: one `NAME<TAB>VALUE` a line.
    pub fn to_text(&self) -> String {
        self.values
            .iter()
            .map(|(name, value)| format!("{name}\t{value}\n"))
            .collect()
    }

    /// The context `to_text` stored.
    pub fn from_text(text: &str) -> Context {
        let values = text
            .lines()
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (name, value) = line.split_once('\t').unwrap_or_else(|| panic!("{line}"));
                (name.to_owned(), value.to_owned())
            })
            .collect();
        Context { values }
    }

    fn substitute(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for (name, value) in &self.values {
            let slash = if value.starts_with('/') { "/" } else { "" };
            let left = if slash.is_empty() {
                "^|[^0-9A-Za-z]"
            } else {
                ""
            };
            let pattern = format!(r"({left}){}($|[^0-9A-Za-z])", regex::escape(value));
            let whole = Regex::new(&pattern).unwrap();
            // Twice: matches that share a separator (`1,1`) are found in turns.
            for _ in 0..2 {
                text = whole
                    .replace_all(&text, format!("${{1}}{slash}{name}${{2}}").as_str())
                    .into_owned();
            }
        }
        text
    }
}

/// A per-step rule (rule 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Every run of digits becomes `<n>`.
    Numbers,
    /// Stdout's lines are compared in sorted order.
    SortedLines,
    /// `member add`: the members in `ETCD_INITIAL_CLUSTER="..."` in sorted
    /// order (etcd lists them by its random ids).
    SortedInitialCluster,
    /// A progress bar redrawn with `\r`: only its last drawing.
    ProgressBar,
    /// `check perf`: each check's pass and fail lines become one, as does
    /// the exit status that follows them: whether 60 s of load meet etcd's
    /// latency bounds depends on the machine's load at the time, not on
    /// the server's output. Errors (`FAIL: too many errors`) still differ.
    Verdicts,
}

/// Rule 1: etcdctl's own stderr lines.
pub fn own_stderr(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| !line.starts_with("{\"level\":"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Rules 2 to 5 over `text`.
pub fn normalize(text: &str, context: &Context, rules: &[Rule]) -> String {
    let mut text = context.substitute(text);
    if rules.contains(&Rule::ProgressBar) {
        text = text
            .lines()
            .map(|line| format!("{}\n", line.rsplit('\r').next().unwrap_or_default()))
            .collect();
    }
    if rules.contains(&Rule::SortedInitialCluster) {
        text = sorted_initial_cluster(&text);
    }
    if rules.contains(&Rule::Verdicts) {
        text = verdicts(&text);
    }
    let mut text = replace_all(&text);
    if rules.contains(&Rule::Numbers) {
        text = Regex::new(r"[0-9]+")
            .unwrap()
            .replace_all(&text, "<n>")
            .into_owned();
    }
    let mut lines: Vec<String> = text.lines().map(table_row).collect();
    if rules.contains(&Rule::SortedLines) {
        let stdout = lines.iter().position(|line| line == "--- stdout");
        let stderr = lines.iter().position(|line| line == "--- stderr");
        match (stdout, stderr) {
            (Some(start), Some(end)) if start < end => lines[start + 1..end].sort(),
            _ => lines.sort(),
        }
    }
    let ends_with_newline = text.ends_with('\n');
    let mut joined = lines.join("\n");
    if ends_with_newline {
        joined.push('\n');
    }
    joined
}

/// Rule 3.
fn replace_all(text: &str) -> String {
    let json_keys = "cluster_id|member_id|revision|raft_term|create_revision|mod_revision|lease|\
                     ID|leader|dbSize|dbSizeInUse|raftIndex|raftTerm|raftAppliedIndex|hash|\
                     compact_revision|hash_revision|TTL|ttl|grantedTTL|id";
    let field_keys = "ClusterID|MemberID|Revision|RaftTerm|CreateRevision|ModRevision|Lease";
    let rules: [(String, &str); 8] = [
        (r"127\.0\.0\.1:[0-9]+".into(), "127.0.0.1:<port>"),
        (format!(r#""({json_keys})":-?[0-9]+"#), r#""$1":<n>"#),
        (format!(r#""({field_keys})" : -?[0-9]+"#), r#""$1" : <n>"#),
        (
            r"compacted revision [0-9]+".into(),
            "compacted revision <rev>",
        ),
        (r"took = [0-9.]+[a-zµ]*s".into(), "took = <duration>"),
        (r"remaining\([0-9]+s\)".into(), "remaining(<s>)"),
        (r"[0-9]+(\.[0-9]+)? (B|kB|MB|GB)\b".into(), "<size>"),
        (r"\b3\.4\.[0-9]+\b|\b3\.5\.0\b".into(), "<version>"),
    ];
    let mut text = text.to_owned();
    for (pattern, replacement) in rules {
        text = Regex::new(&pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

/// [`Rule::SortedInitialCluster`].
fn sorted_initial_cluster(text: &str) -> String {
    let list = Regex::new(r#"ETCD_INITIAL_CLUSTER="([^"]*)""#).unwrap();
    list.replace_all(text, |found: &regex::Captures<'_>| {
        let mut members: Vec<&str> = found[1].split(',').collect();
        members.sort();
        format!("ETCD_INITIAL_CLUSTER=\"{}\"", members.join(","))
    })
    .into_owned()
}

/// [`Rule::Verdicts`].
fn verdicts(text: &str) -> String {
    let rules = [
        (
            r"(?m)^(PASS: Throughput is|FAIL: Throughput too low:) ",
            "<verdict>: throughput ",
        ),
        (
            r"(?m)^(PASS: Slowest request took|Slowest request took too long:) ",
            "<verdict>: slowest request ",
        ),
        (
            r"(?m)^(PASS: Stddev is|Stddev too high:) ",
            "<verdict>: stddev ",
        ),
        (r"(?m)^(PASS|FAIL)$", "<verdict>"),
        (r"(?m)^exit: [01]$", "exit: <verdict>"),
    ];
    let mut text = text.to_owned();
    for (pattern, replacement) in rules {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

/// Rule 4.
fn table_row(line: &str) -> String {
    if line.starts_with('+') {
        Regex::new("-+")
            .unwrap()
            .replace_all(line, "-")
            .into_owned()
    } else if line.starts_with('|') {
        Regex::new(" +")
            .unwrap()
            .replace_all(line, " ")
            .into_owned()
    } else {
        line.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_roles_only_as_whole_words() {
        let mut context = Context::default();
        context.member("leader", 0x1234_5678_9abc_def0, "node-1");
        context.lease("grant", 1);
        let text =
            "123456789abcdef0, started, node-1, x\nlease 0000000000000001 granted\noffice/1\n11\n";
        assert_eq!(
            normalize(text, &context, &[]),
            "<member:leader>, started, <name:leader>, x\nlease <lease:grant> granted\noffice/<lease:grant>\n11\n"
        );
    }

    /// Sorting reorders stdout's rows only; a check's pass and fail lines
    /// and the exit status after them become one; numbers go.
    #[test]
    fn per_step_rules_touch_only_what_they_name() {
        let document = "exit: 1\n--- stdout\nb\na\n--- stderr\nError: z\n";
        assert_eq!(
            normalize(document, &Context::default(), &[Rule::SortedLines]),
            "exit: 1\n--- stdout\na\nb\n--- stderr\nError: z\n"
        );
        let failed = "exit: 1\n--- stdout\nFAIL: Throughput too low: 132 writes/s\nFAIL\n";
        let passed = "exit: 0\n--- stdout\nPASS: Throughput is 149 writes/s\nPASS\n";
        let rules = [Rule::Verdicts, Rule::Numbers];
        assert_eq!(
            normalize(failed, &Context::default(), &rules),
            normalize(passed, &Context::default(), &rules)
        );
        let errors = "exit: 1\n--- stdout\nFAIL: too many errors\nFAIL\n";
        assert_ne!(
            normalize(errors, &Context::default(), &rules),
            normalize(passed, &Context::default(), &rules)
        );
    }
}
