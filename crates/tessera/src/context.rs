//! What every command shares: the wall clock, and how it prints (one JSON value with
//! `--json`, else text for people).

use serde_json::Value;
use tessera_core::audit::Actor;
use tessera_core::clock::Clock;
use tessera_http::SystemClock;

/// Now by the wall clock: commands act at the moment they run.
/// Who the audit log names for a CLI action: `cli:` and the operating-system user.
pub(crate) fn actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    Actor::cli(&user)
}

pub(crate) fn now() -> i64 {
    SystemClock.now()
}

pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    pub(crate) fn print(&self, value: &Value, human: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            println!("{}", human());
        }
    }
}
