//! The benchmark's child processes: started with their output in files,
//! signalled by pid, and killed and reaped when dropped — on a normal end,
//! an error, a panic, or Ctrl-C (which drops the benchmark's future).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;
use rustix::process::{Pid, Signal, kill_process};

/// One member's process, restartable with the same command line.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    log_path: PathBuf,
    child: Option<Child>,
}

impl ChildProcess {
    /// Starts `program args`, its stdout and stderr appended to
    /// `log_dir/NAME.log`.
    pub(crate) fn spawn(
        name: &str,
        program: &Path,
        args: Vec<String>,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut process = Self {
            name: name.to_owned(),
            program: program.to_owned(),
            args,
            log_path: log_dir.join(format!("{name}.log")),
            child: None,
        };
        process.start()?;
        Ok(process)
    }

    /// Starts the process again after it exited or was killed.
    pub(crate) fn start(&mut self) -> anyhow::Result<()> {
        self.reap();
        let log = self.open_log()?;
        let log_too = log
            .try_clone()
            .with_context(|| format!("cannot share {}", self.log_path.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_too)
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    fn open_log(&self) -> anyhow::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("cannot open {}", self.log_path.display()))
    }

    /// Sends `signal` to the running process (nothing if it is gone).
    pub(crate) fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        let Some(child) = &self.child else {
            return Ok(());
        };
        kill_process(Pid::from_child(child), signal)
            .with_context(|| format!("cannot signal {} ({signal:?})", self.name))
    }

    /// True while the process has not exited.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// The last lines of its log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "--- {} ({}) ---\n{}",
            self.name,
            self.log_path.display(),
            lines[lines.len().saturating_sub(15)..].join("\n")
        )
    }

    /// Kills (SIGKILL, after SIGCONT in case it was paused) and reaps it.
    pub(crate) fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_child(&child);
            let _ = kill_process(pid, Signal::KILL);
            let _ = kill_process(pid, Signal::CONT);
            let _ = child.wait();
        }
    }

    /// Waits up to `patience` for a process asked to exit (SIGTERM) to
    /// exit; kills it after that. True if it exited by itself.
    pub(crate) async fn exited_within(&mut self, patience: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + patience;
        while tokio::time::Instant::now() < deadline {
            if !self.is_running() {
                self.reap();
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.reap();
        false
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.reap();
    }
}
