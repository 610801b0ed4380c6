//! Headless Chromium for the dashboard's browser test, driven through
//! chromedriver's WebDriver HTTP API with the tests' own `reqwest`: a few
//! calls (open a session, go to a URL, run a script, take a screenshot)
//! need no WebDriver crate.
//!
//! [`Browser::start`] finds `chromedriver` and Chromium on the `PATH` (or
//! `ORDO_CHROMEDRIVER` / `ORDO_CHROMIUM`); when either is missing it
//! answers `None` and the test says it was skipped, unless
//! `ORDO_REQUIRE_BROWSER=1` (as in `.ci/run`), which makes it a failure.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// How long chromedriver and Chromium may take to come up on a loaded machine.
const START_PATIENCE: Duration = Duration::from_secs(20);
/// The bound on one WebDriver call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A chromedriver process and one headless Chromium session in it; both
/// end when it is dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

/// The first of `names` that is an executable on the `PATH`, or `env`'s path.
fn executable(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

impl Browser {
    /// A headless Chromium of `width` by `height` pixels, or `None` (with
    /// the reason printed) when chromedriver or Chromium is not installed.
    ///
    /// # Panics
    /// When they are missing and `ORDO_REQUIRE_BROWSER=1`, or do not start.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let driver = executable("ORDO_CHROMEDRIVER", &["chromedriver"]);
        let chromium = executable(
            "ORDO_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            let why = "chromedriver or Chromium is not installed \
                       (apt-get install chromium chromium-driver)";
            assert!(
                std::env::var("ORDO_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "ORDO_REQUIRE_BROWSER=1 but {why}"
            );
            eprintln!("SKIPPED: the dashboard's browser test: {why}");
            return None;
        };
        Some(Browser::launch(&driver, &chromium, width, height).await)
    }

    async fn launch(driver: &Path, chromium: &Path, width: u32, height: u32) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
        };
        browser.wait_ready().await;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run",
                    format!("--window-size={width},{height}"),
                ],
            },
        }}});
        let answer = browser.call("POST", "/session", Some(capabilities)).await;
        browser.session = answer["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        browser
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
                "chromedriver not ready within {START_PATIENCE:?}"
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
        // Ending the session ends its Chromium (chromedriver's child);
        // chromedriver is ours to kill. Blocking and bounded: a panicking
        // test still leaves no browser behind.
        if !self.session.is_empty() {
            let _ = delete_blocking(&self.base, &self.session_path(""));
        }
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
    // The answer's head means the session is gone (chromedriver may keep
    // the connection open, so reading to its end would wait).
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

/// Where screenshots go: `target/ui-screenshots/` (not committed).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("ui-screenshots")
}
