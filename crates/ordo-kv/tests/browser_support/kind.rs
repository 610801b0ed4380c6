//! The browsers the dashboard is tested in, and what differs between them:
//! where their WebDriver and browser executables are, the variable that
//! makes their absence a failure, and the W3C capabilities that start them
//! headless. Everything else (the WebDriver calls) is the same for both.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// A browser the dashboard's tests drive through WebDriver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrowserKind {
    /// Chromium, through `chromedriver` (Debian's `chromium-driver`).
    Chromium,
    /// Firefox (Debian's `firefox-esr`), through `geckodriver` (crates.io).
    Firefox,
}

/// A WebDriver and the browser it drives, both found.
#[derive(Debug)]
pub struct Installed {
    /// The WebDriver server's executable.
    pub driver: PathBuf,
    /// The browser's executable.
    pub browser: PathBuf,
}

impl BrowserKind {
    /// Its name in messages and screenshot directories.
    pub fn name(self) -> &'static str {
        match self {
            BrowserKind::Chromium => "chromium",
            BrowserKind::Firefox => "firefox",
        }
    }

    /// The variable which, set to `1`, makes a missing browser a failure
    /// instead of a skip (`.ci/run` sets both).
    pub fn required_by(self) -> &'static str {
        match self {
            BrowserKind::Chromium => "ORDO_REQUIRE_BROWSER",
            BrowserKind::Firefox => "ORDO_REQUIRE_FIREFOX",
        }
    }

    fn how_to_install(self) -> &'static str {
        match self {
            BrowserKind::Chromium => "apt-get install chromium chromium-driver",
            BrowserKind::Firefox => {
                "apt-get install firefox-esr; cargo install geckodriver --locked \
                 (or ORDO_GECKODRIVER=PATH)"
            }
        }
    }

    /// Its WebDriver and browser, or why they cannot be used.
    pub fn find(self) -> Result<Installed, String> {
        let (driver, browser) = match self {
            BrowserKind::Chromium => (
                executable("ORDO_CHROMEDRIVER", &["chromedriver"]),
                executable(
                    "ORDO_CHROMIUM",
                    &["chromium", "chromium-browser", "google-chrome"],
                ),
            ),
            BrowserKind::Firefox => (
                executable("ORDO_GECKODRIVER", &["geckodriver"]),
                executable("ORDO_FIREFOX", &["firefox-esr", "firefox"]),
            ),
        };
        match (driver, browser) {
            (Some(driver), Some(browser)) => Ok(Installed { driver, browser }),
            _ => Err(format!(
                "its WebDriver or the browser is not installed ({})",
                self.how_to_install()
            )),
        }
    }

    /// The WebDriver server's arguments to listen on `port`.
    pub fn driver_args(self, port: u16) -> Vec<String> {
        match self {
            BrowserKind::Chromium => vec![format!("--port={port}")],
            // Firefox's WebDriver BiDi port is picked by the system, like
            // its Marionette port: two at once (tests of other binaries,
            // another checkout) would collide on the default 9222.
            BrowserKind::Firefox => vec![
                "--port".to_owned(),
                port.to_string(),
                "--websocket-port".to_owned(),
                "0".to_owned(),
            ],
        }
    }

    /// The `POST /session` body that starts `browser` headless with a
    /// window of `width` by `height` pixels, saving downloads into
    /// `downloads` without asking.
    pub fn new_session(self, browser: &Path, size: (u32, u32), downloads: &Path) -> Value {
        let (width, height) = size;
        let always_match = match self {
            BrowserKind::Chromium => json!({
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": browser,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu",
                        "--disable-dev-shm-usage", "--no-first-run",
                        format!("--window-size={width},{height}"),
                    ],
                    "prefs": {
                        "download.default_directory": downloads,
                        "download.prompt_for_download": false,
                    },
                },
            }),
            BrowserKind::Firefox => json!({
                "browserName": "firefox",
                "moz:firefoxOptions": {
                    "binary": browser,
                    "args": [
                        "-headless",
                        "-width", width.to_string(),
                        "-height", height.to_string(),
                    ],
                    "prefs": {
                        // 2: the directory below, not the desktop or the last used.
                        "browser.download.folderList": 2,
                        "browser.download.dir": downloads,
                        "browser.download.useDownloadDir": true,
                        "browser.download.always_ask_before_handling_new_types": false,
                    },
                },
            }),
        };
        json!({"capabilities": {"alwaysMatch": always_match}})
    }
}

/// `env`'s path when set, else the first of `names` that is a file on the
/// `PATH`.
fn executable(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}
