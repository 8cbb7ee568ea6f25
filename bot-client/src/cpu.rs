//! How busy this process and this machine are, read from Linux's `/proc`: a load test whose
//! bots share the server's machine must say when its figures are the machine's limit (the
//! bots starved of CPU) rather than the server's.

/// Linux reports CPU times in `USER_HZ` ticks, fixed at 100 per second for user space on
/// every architecture it exports `/proc` in.
const USER_HZ: f64 = 100.0;

/// CPU-time counters at one moment (seconds since boot or process start).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuTimes {
    /// CPU time this process has used, all threads, user and system.
    process_s: f64,
    /// CPU time all cores spent on anything but idling.
    busy_s: f64,
    /// CPU time all cores have counted, idle included.
    total_s: f64,
}

/// Use of the CPU between two [`CpuTimes`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// Cores this process kept busy on average (1.5 = one and a half cores).
    pub process_cores: f64,
    /// Of the whole machine's CPU time, the fraction spent busy (0..=1).
    pub machine_busy: f64,
}

impl CpuTimes {
    /// The counters now; `None` where `/proc` cannot be read (not Linux).
    #[must_use]
    pub fn now() -> Option<Self> {
        let process = std::fs::read_to_string("/proc/self/stat").ok()?;
        let machine = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(&process, &machine)
    }

    /// Counters from the text of `/proc/self/stat` and `/proc/stat`.
    fn parse(process: &str, machine: &str) -> Option<Self> {
        // After the command name (in parentheses, which may hold spaces): state is the
        // first field, utime the 12th and stime the 13th.
        let after_name = process.get(process.rfind(')')? + 1..)?;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        let process_ticks = ticks(11)? + ticks(12)?;
        // "cpu  user nice system idle iowait irq softirq steal guest guest_nice": guest time
        // is already counted in user.
        let cpu = machine.lines().find(|l| l.starts_with("cpu "))?;
        let values: Vec<u64> = cpu
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        let total: u64 = values.iter().sum();
        let idle = values.get(3)? + values.get(4)?;
        Some(Self {
            process_s: process_ticks as f64 / USER_HZ,
            busy_s: total.saturating_sub(idle) as f64 / USER_HZ,
            total_s: total as f64 / USER_HZ,
        })
    }

    /// CPU use from `earlier` to these counters, `wall_s` seconds apart; `None` if the
    /// span is too short to say.
    #[must_use]
    pub fn since(&self, earlier: &Self, wall_s: f64) -> Option<CpuUse> {
        let total = self.total_s - earlier.total_s;
        if wall_s < 0.1 || total <= 0.0 {
            return None;
        }
        Some(CpuUse {
            process_cores: ((self.process_s - earlier.process_s) / wall_s).max(0.0),
            machine_busy: ((self.busy_s - earlier.busy_s) / total).clamp(0.0, 1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n";

    #[test]
    fn reads_process_and_machine_times() {
        let process = "4242 (tickwire bot) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 8 0 100";
        let t = CpuTimes::parse(process, STAT).unwrap_or_else(|| panic!("unparsed"));
        assert!((t.process_s - 3.0).abs() < 1e-9, "{t:?}");
        assert!((t.busy_s - 1.5).abs() < 1e-9, "{t:?}");
        assert!((t.total_s - 10.0).abs() < 1e-9, "{t:?}");
    }

    #[test]
    fn use_between_two_readings() {
        let a = CpuTimes {
            process_s: 1.0,
            busy_s: 10.0,
            total_s: 20.0,
        };
        let b = CpuTimes {
            process_s: 4.0,
            busy_s: 13.8,
            total_s: 24.0,
        };
        let used = b.since(&a, 2.0).unwrap_or_else(|| panic!("no use"));
        assert!((used.process_cores - 1.5).abs() < 1e-9);
        assert!((used.machine_busy - 0.95).abs() < 1e-9);
        assert_eq!(b.since(&a, 0.0), None);
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(CpuTimes::parse("no parenthesis", STAT), None);
        assert_eq!(CpuTimes::parse("1 (x) S 1", STAT), None);
        assert_eq!(
            CpuTimes::parse("1 (x) S 1 2 3 4 5 6 7 8 9 10 1 1", "intr 5"),
            None
        );
    }

    #[test]
    fn this_machine_reads_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(CpuTimes::now().is_some());
        }
    }
}
