//! `ordo dev` as the end-to-end tests run it: on free port bases (two
//! tests' clusters never meet), with its data under the test's directory,
//! started again on the same ports and data, and stopped the way a user
//! stops it (Ctrl-C, which must exit 0).

use std::path::{Path, PathBuf};

use super::{EXIT_PATIENCE, PATIENCE, Process, free_port_base, patience, wait::wait_for};

/// The number of nodes `ordo dev` runs.
pub const DEV_NODES: u16 = 3;

/// A running `ordo dev`, killed when dropped (as [`Process`]).
pub struct Dev {
    process: Process,
    args: Vec<String>,
    logs: PathBuf,
    data: PathBuf,
    client_port_base: u16,
    peer_port_base: u16,
    starts: u32,
    welcome: String,
}

impl Dev {
    /// Starts `ordo dev FLAGS` with its data in `root/dev-data`, its logs
    /// in `root/logs` and free port bases, and waits for its welcome.
    pub async fn spawn(root: &Path, flags: &[&str]) -> Dev {
        let data = root.join("dev-data");
        let (client_port_base, peer_port_base) =
            (free_port_base(DEV_NODES), free_port_base(DEV_NODES));
        let mut args: Vec<String> = vec!["dev".to_owned()];
        args.extend(flags.iter().map(|flag| (*flag).to_owned()));
        args.extend([
            "--data".to_owned(),
            data.to_str().unwrap().to_owned(),
            "--client-port-base".to_owned(),
            client_port_base.to_string(),
            "--peer-port-base".to_owned(),
            peer_port_base.to_string(),
        ]);
        let logs = root.join("logs");
        let process = Process::spawn("dev-1", &args, &logs);
        let mut dev = Dev {
            process,
            args,
            logs,
            data,
            client_port_base,
            peer_port_base,
            starts: 1,
            welcome: String::new(),
        };
        dev.welcome = dev.wait_welcome().await;
        dev
    }

    /// What it printed on its last start, up to "Ctrl-C stops the cluster".
    pub fn welcome(&self) -> &str {
        &self.welcome
    }

    /// Its data directory (`--data`).
    pub fn data(&self) -> &Path {
        &self.data
    }

    /// Node `id`'s client port.
    pub fn client_port(&self, id: u16) -> u16 {
        assert!((1..=DEV_NODES).contains(&id), "ordo dev has no node {id}");
        self.client_port_base + id
    }

    /// Node `id`'s peer port.
    pub fn peer_port(&self, id: u16) -> u16 {
        assert!((1..=DEV_NODES).contains(&id), "ordo dev has no node {id}");
        self.peer_port_base + id
    }

    /// The `ordo dev` process of the last start (its output, its signals).
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// Ctrl-C (SIGINT); panics unless it exits 0 within [`EXIT_PATIENCE`].
    pub async fn interrupt(&mut self) {
        self.process.signal("INT");
        let status = self.process.wait_exit(EXIT_PATIENCE).await;
        assert!(
            status.is_some_and(|status| status.success()),
            "ordo dev after SIGINT: {status:?}\n{}",
            self.process.logs()
        );
    }

    /// Starts it again, with the same flags, ports and data, once the last
    /// start has exited, and waits for its welcome.
    pub async fn restart(&mut self) {
        assert!(
            self.process.try_exit().is_some(),
            "ordo dev restarted while it runs"
        );
        self.starts += 1;
        let name = format!("dev-{}", self.starts);
        self.process = Process::spawn(&name, &self.args, &self.logs);
        self.welcome = self.wait_welcome().await;
    }

    /// Its stdout once it has printed its welcome; panics if it exits first.
    async fn wait_welcome(&mut self) -> String {
        let dev = std::cell::RefCell::new(&mut self.process);
        let check = || {
            let stdout = dev.borrow().stdout();
            let exited = dev.borrow_mut().try_exit();
            std::future::ready(if stdout.contains("Ctrl-C stops the cluster") {
                Ok(stdout)
            } else if let Some(status) = exited {
                panic!("ordo dev exited with {status}\n{}", dev.borrow().logs());
            } else {
                Err("no welcome printed".to_owned())
            })
        };
        wait_for("ordo dev's welcome", patience(PATIENCE), check, || {
            dev.borrow().logs()
        })
        .await
    }
}
