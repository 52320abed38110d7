//! The clock as a port: servers read it, the core is handed its readings.

use crate::UnixSeconds;

pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;

    fn now(&self) -> UnixSeconds {
        self.now_ms().div_euclid(1000)
    }
}
