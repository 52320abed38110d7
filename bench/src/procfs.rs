//! What the kernel tells about a process and the machine, read from /proc: a server's
//! resident memory (now and peak), CPU time (the machine's and a process's), and the
//! CPU model for the report header. Linux only.

use std::fs;

use anyhow::{anyhow, bail, Context, Result};

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

/// The memory of `pids` added up: for a server of several processes (nginx's master and
/// workers), the sum of each one's resident and peak memory. The sum of peaks is at least
/// the peak of the sum: an upper bound when the processes peak at different times.
pub fn memory_of(pids: &[u32]) -> Result<Memory> {
    let mut total = Memory {
        resident_kib: 0,
        peak_kib: 0,
    };
    for pid in pids {
        let one = memory(*pid)?;
        total.resident_kib += one.resident_kib;
        total.peak_kib += one.peak_kib;
    }
    Ok(total)
}

/// `pid` and every process descended from it that is alive now, `pid` first.
pub fn family(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|child| Some((child, parent_of(child)?)))
        .collect();
    let mut family = vec![pid];
    let mut next = 0;
    while let Some(&member) = family.get(next) {
        family.extend(
            parents
                .iter()
                .filter(|(_, parent)| *parent == member)
                .map(|(child, _)| *child),
        );
        next += 1;
    }
    family
}

/// The parent process id (field 4 of proc(5)'s stat), if `pid` still exists.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    after_name.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM to the current VmRSS, so each scenario reports its own peak rather
/// than the largest since the server started (proc(5), clear_refs value 5).
pub fn reset_peak(pid: u32) -> Result<()> {
    let path = format!("/proc/{pid}/clear_refs");
    fs::write(&path, "5").with_context(|| format!("writing {path}"))
}

/// CPU time of the whole machine, in clock ticks summed over its CPUs.
#[derive(Clone, Copy, Debug)]
struct MachineTicks {
    busy: u64,
    total: u64,
    cpus: u64,
}

fn machine_ticks() -> Result<MachineTicks> {
    let stat = fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .map(|rest| {
            rest.split_whitespace()
                .filter_map(|f| f.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let [user, nice, system, idle, iowait, irq, softirq, steal, ..] = fields[..] else {
        bail!("unexpected first line in /proc/stat");
    };
    let cpus = stat
        .lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .count();
    Ok(MachineTicks {
        busy: user + nice + system + irq + softirq + steal,
        total: user + nice + system + idle + iowait + irq + softirq + steal,
        cpus: u64::try_from(cpus)?.max(1),
    })
}

/// Where the machine's CPU went during a load, in cores (1.0 = one CPU fully busy).
#[derive(Clone, Copy, Debug)]
pub struct CpuCores {
    pub server: f64,
    pub generator: f64,
    /// Every other process: other work on the machine, and PostgreSQL when it is the store.
    pub other: f64,
}

/// CPU counters at one instant, for the machine, a server and this process.
pub struct CpuSample {
    machine: MachineTicks,
    server: u64,
    generator: u64,
}

impl CpuSample {
    /// The counters now, the server's being the sum over `server_pids` (one process, or a
    /// master and its workers).
    pub fn take(server_pids: &[u32]) -> Result<Self> {
        let mut server = 0;
        for pid in server_pids {
            server += process_ticks(Some(*pid))?;
        }
        Ok(Self {
            machine: machine_ticks()?,
            server,
            generator: process_ticks(None)?,
        })
    }

    /// The cores each used between this sample and `later`.
    pub fn cores_until(&self, later: &Self) -> Option<CpuCores> {
        let total = later.machine.total.checked_sub(self.machine.total)?;
        if total == 0 {
            return None;
        }
        let per_core = total as f64 / later.machine.cpus as f64;
        let busy = later.machine.busy.saturating_sub(self.machine.busy);
        let server = later.server.saturating_sub(self.server);
        let generator = later.generator.saturating_sub(self.generator);
        let other = busy.saturating_sub(server + generator);
        Some(CpuCores {
            server: server as f64 / per_core,
            generator: generator as f64 / per_core,
            other: other as f64 / per_core,
        })
    }
}

/// User plus system ticks of process `pid` (all its threads); `None` reads this process.
fn process_ticks(pid: Option<u32>) -> Result<u64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |pid| format!("/proc/{pid}/stat"),
    );
    let stat = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5); the 1st after the name is field 3.
    let tick = |index: usize| -> Result<u64> {
        fields
            .get(index)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| anyhow!("no field {} in {path}", index + 3))
    };
    Ok(tick(11)? + tick(12)?)
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
    fn a_family_holds_the_children_of_its_head() -> Result<()> {
        let mut child = std::process::Command::new("sleep").arg("30").spawn()?;
        let members = family(std::process::id());
        let found = members.contains(&child.id());
        child.kill()?;
        child.wait()?;
        assert_eq!(members.first(), Some(&std::process::id()));
        assert!(found, "the child {} is not in {members:?}", child.id());
        assert_eq!(
            family(child.id()),
            [child.id()],
            "a process alone is its own family"
        );
        Ok(())
    }

    #[test]
    fn reads_own_memory_and_resets_peak() -> Result<()> {
        let pid = std::process::id();
        // A 64 MiB peak, freed at once (mmap-sized, so it leaves the RSS): a margin far
        // above what tests running on other threads allocate meanwhile.
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        drop(block);
        let before = memory(pid)?;
        assert!(before.resident_kib > 0);
        assert!(before.peak_kib >= before.resident_kib + (32 << 10));
        reset_peak(pid)?;
        let after = memory(pid)?;
        assert!(after.peak_kib + (32 << 10) < before.peak_kib);
        Ok(())
    }
}
