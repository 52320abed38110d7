//! Replicas behind a real load balancer, started with `scripts/cluster` on a test app's
//! PostgreSQL database and master key, and stopped (`scripts/cluster down`) when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::TestApp;

pub struct Cluster {
    /// nginx, round-robin over the replicas.
    pub url: String,
    /// Each replica, for calls that must reach one in particular.
    pub replicas: Vec<String>,
    dir: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/cluster")
}

impl Cluster {
    /// `replicas` replicas of the test binary on `app`'s store, with `env`'s settings too.
    pub fn up(app: &TestApp, replicas: usize, env: &[(&str, &str)]) -> Self {
        let database = app.config.database.as_deref().unwrap();
        assert!(
            database.starts_with("postgres"),
            "replicas share a PostgreSQL"
        );
        let dir = app.dir.join("cluster");
        let output = Command::new(script())
            .args(["up", "--replicas", &replicas.to_string()])
            .args(["--database", database])
            .args(["--bin", env!("CARGO_BIN_EXE_tessera")])
            .env("TESSERA_CLUSTER_DIR", &dir)
            .env(
                "TESSERA_MASTER_KEY",
                app.config.master_key.as_deref().unwrap(),
            )
            .env("TESSERA_ARGON2_MEMORY_KIB", "64")
            .env("TESSERA_ARGON2_ITERATIONS", "1")
            .envs(env.iter().copied())
            .output()
            .expect("scripts/cluster runs");
        assert!(
            output.status.success(),
            "scripts/cluster up failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).unwrap();
        Self {
            url: read("url").trim().to_owned(),
            replicas: read("replicas").lines().map(str::to_owned).collect(),
            dir,
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("down")
            .env("TESSERA_CLUSTER_DIR", &self.dir)
            .status();
    }
}
