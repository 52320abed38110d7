//! nginx as a plain reverse proxy in front of the bench upstream, for the `nginx proxy (no
//! auth)` row: what proxying costs without any authentication, the yardstick of the
//! gateway row.
//!
//! Debian's `nginx` package: found on the PATH or in /usr/sbin, else installed with
//! `apt-get` when this process is root (or has password-less sudo), as scripts/setup
//! installs its packages; else the row is skipped with the reason. It runs as the current
//! user, in the foreground, with a generated configuration in the run's temp dir, on a
//! free loopback port, and is stopped (SIGTERM to its master) after its row.
//!
//! The configuration is chosen to be fair to nginx, not to Tessera: one worker per core
//! (`worker_processes auto`; Tessera's runtime also has one worker thread per core), no
//! access log (Tessera logs no line per proxied request either), keep-alive connections
//! to the upstream as Tessera's pool keeps them, and no limit on requests per connection
//! either way. Like Tessera it appends `X-Forwarded-For` and streams request bodies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::server::{free_loopback_addr, ServerProcess};
use crate::upstream::BOOK_PATH;

const DEBIAN_PACKAGE: &str = "nginx";
/// How long nginx may take to finish its connections and exit when asked.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running nginx; stopped (master and workers) when dropped.
pub struct Nginx {
    pub server: ServerProcess,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        self.server.terminate(STOP_GRACE);
    }
}

/// nginx's binary: already installed, or installed now. `Err` says why there is none.
pub async fn find_or_install() -> Result<PathBuf> {
    if let Some(path) = installed() {
        return Ok(path);
    }
    let root = is_root()?;
    let sudo = !root && password_less_sudo().await;
    if !root && !sudo {
        bail!("nginx is not installed and installing it needs root: sudo apt-get install {DEBIAN_PACKAGE}");
    }
    eprintln!("installing Debian's {DEBIAN_PACKAGE} (apt-get) …");
    for args in [
        &["apt-get", "update", "-qq"][..],
        &[
            "apt-get",
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            DEBIAN_PACKAGE,
        ][..],
    ] {
        let mut command = if sudo {
            let mut command = tokio::process::Command::new("sudo");
            command
                .arg("-n")
                .arg("env")
                .arg("DEBIAN_FRONTEND=noninteractive");
            command.args(args);
            command
        } else {
            let mut command = tokio::process::Command::new(args[0]);
            command
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(&args[1..]);
            command
        };
        let output = command
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {}", args.join(" ")))?;
        if !output.status.success() {
            bail!(
                "{} failed ({}): {}",
                args.join(" "),
                output.status,
                last_line(&output.stderr)
            );
        }
    }
    installed()
        .context("apt-get installed nginx, but no nginx binary is on the PATH or in /usr/sbin")
}

/// Starts nginx proxying to `upstream`; returns once a request through it succeeds.
pub async fn start(binary: &Path, dir: &Path, upstream: SocketAddr) -> Result<Nginx> {
    let dir = dir.join("nginx");
    std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let addr = free_loopback_addr()?;
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, config(&dir, addr, upstream, is_root()?))
        .with_context(|| format!("writing {}", conf.display()))?;
    let mut command = Command::new(binary);
    // -e: the error log from the start, before the configuration names one (nginx ≥ 1.19.5).
    command
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(&conf)
        .args(["-e", "stderr"]);
    let mut server = ServerProcess::spawn("nginx", command, addr, dir.join("nginx.log"))?;
    server.wait_ready(BOOK_PATH).await?;
    Ok(Nginx { server })
}

/// The configuration: see the module's comment for why each setting.
fn config(dir: &Path, listen: SocketAddr, upstream: SocketAddr, root: bool) -> String {
    let dir = dir.display();
    // As root, nginx would hand its workers to another user; this keeps them ours.
    let user = if root { "user root;\n" } else { "" };
    format!(
        r#"{user}worker_processes auto;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 1000000000;
    client_max_body_size 0;

    upstream bench_upstream {{
        server {upstream};
        keepalive 128;
        keepalive_requests 1000000000;
    }}

    server {{
        listen {listen};
        location / {{
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_request_buffering off;
        }}
    }}
}}
"#
    )
}

fn installed() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>());
    on_path
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root (effective uid 0), from /proc/self/status.
fn is_root() -> Result<bool> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .context("no Uid line in /proc/self/status")?;
    Ok(effective == "0")
}

async fn password_less_sudo() -> bool {
    tokio::process::Command::new("sudo")
        .args(["-n", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

fn last_line(output: &[u8]) -> String {
    String::from_utf8_lossy(output)
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("(no output)")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_proxies_to_the_upstream_with_keep_alive() -> Result<()> {
        let listen: SocketAddr = "127.0.0.1:8081".parse()?;
        let upstream: SocketAddr = "127.0.0.1:9000".parse()?;
        let text = config(Path::new("/tmp/run/nginx"), listen, upstream, false);
        assert!(text.contains("listen 127.0.0.1:8081;"));
        assert!(text.contains("server 127.0.0.1:9000;"));
        assert!(text.contains("proxy_pass http://bench_upstream;"));
        assert!(text.contains("proxy_set_header Connection \"\";"));
        assert!(text.contains("pid /tmp/run/nginx/nginx.pid;"));
        assert!(!text.contains("user "));
        assert!(config(Path::new("/d"), listen, upstream, true).starts_with("user root;\n"));
        Ok(())
    }
}
