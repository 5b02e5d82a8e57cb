//! What `/proc` says about a process: CPU time (utime + stime) and resident memory.

use std::io;

/// A process to watch: the server (`--server-pid`) or the load generator itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pid {
    /// `/proc/self`.
    Me,
    /// `/proc/PID`.
    Of(u32),
}

impl Pid {
    fn dir(self) -> String {
        match self {
            Pid::Me => "/proc/self".to_owned(),
            Pid::Of(pid) => format!("/proc/{pid}"),
        }
    }

    /// User plus system CPU seconds used so far.
    pub(crate) fn cpu_seconds(self) -> io::Result<f64> {
        let text = std::fs::read_to_string(format!("{}/stat", self.dir()))?;
        let ticks = cpu_ticks(&text).ok_or_else(|| io::Error::other("unparsable stat line"))?;
        Ok(ticks as f64 / clock_ticks() as f64)
    }

    /// The CPU this process is pinned to (`taskset -c N`), if it is allowed on exactly one.
    pub(crate) fn pinned_cpu(self) -> Option<usize> {
        let pid = match self {
            Pid::Me => None,
            Pid::Of(pid) => Some(rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?),
        };
        let set = rustix::thread::sched_getaffinity(pid).ok()?;
        if set.count() != 1 {
            return None;
        }
        (0..rustix::thread::CpuSet::MAX_CPU).find(|&cpu| set.is_set(cpu))
    }

    /// Resident set size in bytes (`VmRSS`).
    pub(crate) fn rss_bytes(self) -> io::Result<u64> {
        let text = std::fs::read_to_string(format!("{}/status", self.dir()))?;
        vm_rss(&text).ok_or_else(|| io::Error::other("no VmRSS line"))
    }
}

/// Clock ticks per second for `/proc/PID/stat` times: `sysconf(_SC_CLK_TCK)` through rustix,
/// which reads it from the auxiliary vector without `unsafe` here. 100 on every Linux in use.
pub(crate) fn clock_ticks() -> u64 {
    match rustix::param::clock_ticks_per_second() {
        0 => 100,
        n => n,
    }
}

/// Busy and total ticks of one CPU so far, from `/proc/stat`. Busy counts softirq time, which
/// per-process times leave out although loopback TCP spends much of its time there.
pub(crate) fn core_ticks(cpu: usize) -> Option<(u64, u64)> {
    core_ticks_in(&std::fs::read_to_string("/proc/stat").ok()?, cpu)
}

fn core_ticks_in(stat: &str, cpu: usize) -> Option<(u64, u64)> {
    let name = format!("cpu{cpu}");
    let line = stat.lines().find(|l| l.split_ascii_whitespace().next() == Some(name.as_str()))?;
    let ticks: Vec<u64> = line.split_ascii_whitespace().skip(1).map_while(|t| t.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
    Some((total - idle, total))
}

/// `utime + stime` (fields 14 and 15) from a `/proc/PID/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted from its last `)`.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name, so field 14 is the 12th.
    let mut fields = after_comm.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` in bytes from `/proc/PID/status` (the file says kB, meaning KiB).
fn vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kib: u64 = line.split_ascii_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_past_odd_names() {
        let stat = "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194304 1234 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(cpu_ticks(stat), Some(325));
        assert_eq!(cpu_ticks("12 (x) S 1"), None);
    }

    #[test]
    fn reads_vm_rss() {
        let status = "Name:\techo\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t2\n";
        assert_eq!(vm_rss(status), Some(5120 * 1024));
        assert_eq!(vm_rss("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn reads_core_ticks() {
        let stat = "cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 10 1 20 500 5 0 30 2 0 0\ncpu1 1 0 1 100 0 0 0 0 0 0\n";
        assert_eq!(core_ticks_in(stat, 0), Some((63, 568)));
        assert_eq!(core_ticks_in(stat, 1), Some((2, 102)));
        assert_eq!(core_ticks_in(stat, 2), None);
    }

    #[test]
    fn reads_own_process() {
        assert!(Pid::Me.cpu_seconds().unwrap() >= 0.0);
        assert!(Pid::Me.rss_bytes().unwrap() > 0);
    }
}
