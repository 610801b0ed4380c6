//! Headless browsers for the dashboard's browser tests, driven through the
//! W3C WebDriver HTTP API (chromedriver for Chromium, geckodriver for
//! Firefox) with the tests' own `reqwest`: a few calls (open a session, go
//! to a URL, run a script, take a screenshot) need no WebDriver crate.
//!
//! Every test runs in each [`BrowserKind`]: [`Browser::start`] finds that
//! browser and its WebDriver on the `PATH` (or through the variables named
//! in [`kind`]); when either is missing it answers `None` and the test says
//! it was skipped, unless the browser's [`BrowserKind::required_by`]
//! variable is `1` (as in `.ci/run`), which makes it a failure.
//!
//! One browser at a time per test binary: a browser, its driver and three
//! `ordo` nodes per test already fill two cores, and two at once would
//! make the page's patience a coin toss. The WebDriver runs in its own
//! process group, which is killed with it, so no browser outlives a test,
//! even one that panicked.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod kind;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

pub use kind::BrowserKind;

/// How long a WebDriver and its browser may take to come up on a loaded machine.
const START_PATIENCE: Duration = Duration::from_secs(20);
/// Election timeouts of a second or two (etcd's default is one), not the
/// default 150–300 ms: every step of the browser tests is asked of the leader the test
/// found, and on a loaded machine a short timeout let leadership move
/// mid-test. A killed leader is still replaced within a few seconds.
pub const STEADY_LEADER: &[&str] = &[
    "--election-timeout-min-ms",
    "1000",
    "--election-timeout-max-ms",
    "2000",
];
/// The bound on one WebDriver call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Held by the one test of a binary whose browser runs.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A WebDriver process and one headless browser session in it; both end
/// when it is dropped.
pub struct Browser {
    kind: BrowserKind,
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
    downloads: tempfile::TempDir,
    // Declared last: released after the session and the driver are gone.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// A headless `kind` browser of `width` by `height` pixels, or `None`
    /// (with the reason printed) when it or its WebDriver is not installed.
    /// Waits for the other tests of this binary to be done with theirs.
    ///
    /// # Panics
    /// When they are missing and the kind's `required_by` variable is `1`,
    /// or when they do not start.
    pub async fn start(kind: BrowserKind, width: u32, height: u32) -> Option<Browser> {
        let installed = match kind.find() {
            Ok(installed) => installed,
            Err(why) => {
                let required = kind.required_by();
                assert!(
                    std::env::var(required).as_deref() != Ok("1"),
                    "{required}=1 but {}: {why}",
                    kind.name()
                );
                eprintln!(
                    "SKIPPED: the dashboard's browser test in {}: {why}",
                    kind.name()
                );
                return None;
            }
        };
        let turn = TURN.lock().await;
        Some(Browser::launch(kind, &installed, (width, height), turn).await)
    }

    async fn launch(
        kind: BrowserKind,
        installed: &kind::Installed,
        size: (u32, u32),
        turn: tokio::sync::MutexGuard<'static, ()>,
    ) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(&installed.driver)
            .args(kind.driver_args(port))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("{} does not start: {error}", installed.driver.display())
            });
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .unwrap();
        let mut browser = Browser {
            kind,
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            http,
            downloads: tempfile::tempdir().unwrap(),
            _turn: turn,
        };
        browser.wait_ready().await;
        let capabilities = kind.new_session(&installed.browser, size, browser.downloads.path());
        let answer = browser.call("POST", "/session", Some(capabilities)).await;
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        browser
    }

    /// Which browser this is.
    pub fn kind(&self) -> BrowserKind {
        self.kind
    }

    /// Where the browser saves downloads (removed with it).
    pub fn downloads(&self) -> &Path {
        self.downloads.path()
    }

    async fn wait_ready(&self) {
        let started = Instant::now();
        loop {
            let status = self.http.get(format!("{}/status", self.base)).send().await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return;
            }
            assert!(
                started.elapsed() < START_PATIENCE,
                "{} not ready within {START_PATIENCE:?}",
                self.kind.name()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One WebDriver call; its `value` (panics on a WebDriver error).
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body.unwrap_or_else(|| json!({}))),
        };
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        let value = answer["value"].clone();
        assert!(
            value.get("error").is_none(),
            "WebDriver {method} {path}: {value}"
        );
        value
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` (returns when the page has loaded).
    pub async fn go(&self, url: &str) {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({"url": url})),
        )
        .await;
    }

    /// Runs `script` (a function body; `return` gives its value) in the page.
    pub async fn run(&self, script: &str) -> Value {
        let body = json!({"script": script, "args": []});
        self.call("POST", &self.session_path("/execute/sync"), Some(body))
            .await
    }

    /// Runs `script` (a function body) asynchronously: it answers by
    /// calling its last argument; that answer as text.
    pub async fn run_async(&self, script: &str) -> String {
        let body = json!({"script": script, "args": []});
        let value = self
            .call("POST", &self.session_path("/execute/async"), Some(body))
            .await;
        value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_owned)
    }

    /// Runs `script` until it returns `true`, up to `within`; panics with
    /// `what` and the page's text otherwise.
    pub async fn wait_until(&self, what: &str, within: Duration, script: &str) {
        let started = Instant::now();
        loop {
            // A navigation in progress makes a script fail: try again.
            let body = json!({"script": script, "args": []});
            let url = format!("{}{}", self.base, self.session_path("/execute/sync"));
            let answer = self.http.post(url).json(&body).send().await;
            if let Ok(response) = answer
                && let Ok(value) = response.json::<Value>().await
                && value["value"] == true
            {
                return;
            }
            if started.elapsed() > within {
                let text = self.run("return document.body.innerText").await;
                panic!("waited {within:?} for {what}; the page shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The one file the browser has finished downloading, as its name and
    /// bytes, waiting up to `within`; panics if none or more than one.
    pub async fn downloaded(&self, within: Duration) -> (String, Vec<u8>) {
        let started = Instant::now();
        loop {
            let names: Vec<String> = std::fs::read_dir(self.downloads())
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            // Both browsers write to NAME.part (Firefox) or NAME.crdownload
            // (Chromium) and rename it when done; Firefox also makes NAME
            // empty at the start.
            let in_progress = names
                .iter()
                .any(|name| name.ends_with(".part") || name.ends_with(".crdownload"));
            if !in_progress && let [name] = names.as_slice() {
                let bytes = std::fs::read(self.downloads().join(name)).unwrap();
                if !bytes.is_empty() {
                    return (name.clone(), bytes);
                }
            }
            assert!(
                names.len() <= 2 && started.elapsed() < within,
                "waited {within:?} for one finished download in {}: {names:?}",
                self.kind.name()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let value = self
            .call("GET", &self.session_path("/screenshot"), None)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().expect("a base64 screenshot"))
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session ends its browser (the driver's child) and
        // lets the driver remove the browser's profile; then the driver's
        // process group goes, with anything the session left. Blocking and
        // bounded: a panicking test still leaves no browser behind.
        if !self.session.is_empty() {
            let _ = delete_blocking(&self.base, &self.session_path(""));
        }
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE base+path` over a plain socket, bounded by [`CALL_TIMEOUT`].
fn delete_blocking(base: &str, path: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let address = base.trim_start_matches("http://");
    let socket_address = address
        .parse()
        .map_err(|_| std::io::Error::other("not an address"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&socket_address, CALL_TIMEOUT)?;
    stream.set_read_timeout(Some(CALL_TIMEOUT))?;
    write!(
        stream,
        "DELETE {path} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The answer's head means the session is gone (a driver may keep the
    // connection open, so reading to its end would wait).
    let mut answer = Vec::new();
    let mut chunk = [0u8; 1024];
    while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            break;
        }
        answer.extend_from_slice(&chunk[..read]);
    }
    Ok(())
}

/// Where `kind`'s screenshots go: `target/ui-screenshots/KIND/` (not
/// committed).
pub fn screenshot_dir(kind: BrowserKind) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("ui-screenshots").join(kind.name())
}
