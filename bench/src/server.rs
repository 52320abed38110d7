//! The processes and files a run owns: server child processes (killed when dropped, also
//! on error or Ctrl-C), a temporary directory (removed when dropped), free ports, and
//! waiting until a server answers.
//!
//! Knows how to start a command and watch it, not which command: Tessera's arguments live
//! in tessera.rs, the baseline's in run.rs.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, StatusCode};
use tokio::time::{sleep, Instant};

use crate::client::send_once;
use crate::procfs;

/// How long a server may take from spawn to answering its readiness request.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const READY_POLL: Duration = Duration::from_millis(50);

/// A server process that is killed when this is dropped; its stdout and stderr go to a
/// log file so they do not mix with the report.
pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
    pub addr: SocketAddr,
}

impl ServerProcess {
    pub fn spawn(name: &str, mut command: Command, addr: SocketAddr, log: PathBuf) -> Result<Self> {
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
            addr,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the end of the server's log, if it has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!(
                "{} exited ({status}); end of its log:\n{}",
                self.name,
                self.log_tail()
            ),
        }
    }

    pub fn log_tail(&self) -> String {
        const LINES: usize = 30;
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LINES)..].join("\n")
    }

    /// Polls `GET path` until it answers 200.
    pub async fn wait_ready(&mut self, path: &str) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            self.ensure_running()?;
            let request = Request::get(path).body(Full::new(Bytes::new()))?;
            match send_once(self.addr, request).await {
                Ok((StatusCode::OK, _)) => return Ok(()),
                Ok((status, _)) => last = format!("status {status}"),
                Err(error) => last = format!("{error:#}"),
            }
            sleep(READY_POLL).await;
        }
        bail!(
            "{} did not answer GET {path} with 200 within {READY_TIMEOUT:?} (last: {last}); end of its log:\n{}",
            self.name,
            self.log_tail()
        )
    }

    /// Asks the process to end (SIGTERM) and waits up to `grace` for it, then kills what
    /// is left of it and of the processes it had started (by their ids, collected before
    /// the signal): for a server whose workers would outlive a killed master (nginx).
    pub fn terminate(&mut self, grace: Duration) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let family = procfs::family(self.pid());
        let _ = signal("-TERM", &family[..1]);
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let alive: Vec<u32> = family
            .iter()
            .skip(1)
            .copied()
            .filter(|pid| Path::new(&format!("/proc/{pid}")).exists())
            .collect();
        if !alive.is_empty() {
            let _ = signal("-KILL", &alive);
        }
        self.stop();
    }

    /// Kills the process and waits for it to end.
    pub fn stop(&mut self) {
        // Already exited is fine; nothing else can be done about a failed kill here.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `kill SIGNAL PID…`: std can send only SIGKILL, and only to a child it holds.
fn signal(signal: &str, pids: &[u32]) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}

/// A fresh directory under the system temp dir, removed with its contents when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn create(prefix: &str) -> Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A loopback address with a port the kernel just had free. Another process could take
/// it before the server binds; the server would then fail to start, loudly.
pub fn free_loopback_addr() -> Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).context("finding a free port")?;
    Ok(listener.local_addr()?)
}
