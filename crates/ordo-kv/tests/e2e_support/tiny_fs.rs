//! A tiny filesystem for a data directory, to fill until writes fail: a
//! tmpfs of a few MiB mounted on a temporary directory. Mounting needs root
//! (`.ci/run` runs as root); elsewhere [`TinyFs::mount`] says why it cannot
//! and the test is skipped. The guard unmounts when dropped, also when the
//! test panics.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs; unmounted (lazily, if still busy) when dropped.
pub struct TinyFs {
    mount_point: PathBuf,
}

impl TinyFs {
    /// Mounts a tmpfs of `size_bytes` on `mount_point` (created if needed);
    /// `Err(reason)` when that cannot be done here.
    pub fn mount(mount_point: &Path, size_bytes: u64) -> Result<TinyFs, String> {
        let euid = effective_uid();
        if euid != 0 {
            return Err(format!("mounting a tmpfs needs root (euid {euid})"));
        }
        fs::create_dir_all(mount_point).map_err(|error| error.to_string())?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_bytes}"), "tmpfs"])
            .arg(mount_point)
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(TinyFs {
            mount_point: mount_point.to_owned(),
        })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mount_point
    }

    /// Writes zeros to `name` until the filesystem is full, leaving at most
    /// `leave_bytes` free; the file is [`TinyFs::free`]d later.
    pub fn fill(&self, name: &str, leave_bytes: u64) {
        let path = self.mount_point.join(name);
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        let chunk = vec![0u8; 4096];
        while self.free_bytes() > leave_bytes {
            if file.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = file.sync_all();
    }

    /// Deletes the filler file `name`.
    pub fn free(&self, name: &str) {
        fs::remove_file(self.mount_point.join(name)).unwrap();
    }

    /// Bytes still free, as `df` sees them.
    pub fn free_bytes(&self) -> u64 {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.mount_point)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .nth(1)
            .and_then(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("df said {text:?}"))
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.mount_point)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Still busy (a node not reaped yet): detach it now, gone when idle.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.mount_point)
                .status();
        }
    }
}

/// The effective user id, from `id -u` (no libc dependency for one call).
fn effective_uid() -> u32 {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|output| String::from_utf8_lossy(&output.stdout).trim().parse().ok())
        .unwrap_or(u32::MAX)
}
