//! What the kernel tells about a process and the machine, read from /proc: a server's
//! resident memory (now and peak) and the CPU model for the report header. Linux only.

use std::fs;

use anyhow::{anyhow, Context, Result};

/// Resident memory of a process, in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Memory {
    /// VmRSS: resident now.
    pub resident_kib: u64,
    /// VmHWM: the most ever resident, since start or the last `reset_peak`.
    pub peak_kib: u64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no {name} in {path}"))
    };
    Ok(Memory {
        resident_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// Resets VmHWM to the current VmRSS, so each scenario reports its own peak rather
/// than the largest since the server started (proc(5), clear_refs value 5).
pub fn reset_peak(pid: u32) -> Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    fs::write(&path, "5").with_context(|| format!("writing {path}"))
}

/// The "model name" of the first CPU, or "unknown".
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_and_resets_peak() -> Result<()> {
        let pid = std::process::id();
        let before = memory(pid)?;
        assert!(before.resident_kib > 0);
        assert!(before.peak_kib >= before.resident_kib);
        reset_peak(pid)?;
        let after = memory(pid)?;
        assert!(after.peak_kib <= before.peak_kib);
        Ok(())
    }
}
