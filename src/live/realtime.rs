//! Real-time hygiene of a live session (`run`, unless `--no-realtime`): the
//! process's memory locked with `mlockall`, and `SCHED_FIFO` for the
//! session's hot threads. Every request is reported (what was asked, what
//! was granted, the errno when refused) in the report's `realtime_request`
//! and the summary; a refusal is a warning, never an error.
//!
//! Priorities: the shortest job runs first. The null sink's block takes a
//! few microseconds and its lateness is heard; the reader's chunk takes tens
//! of microseconds and its delay is every sample's; the worker's frame takes
//! 0.2 to 1 ms. So sink 32 > reader 31 > worker 30: a higher thread delays a
//! lower one by its few microseconds, never the other way round. All three
//! sit above every ordinary thread and below the kernel's threaded
//! interrupt handlers (`SCHED_FIFO` 50).
//!
//! Memory: `MCL_CURRENT | MCL_FUTURE` when `RLIMIT_MEMLOCK` cannot bite
//! (it is unlimited, or the process has `CAP_IPC_LOCK`, as root has). Under
//! a finite limit without the capability, `MCL_FUTURE` would make every
//! mapping beyond the limit fail (an allocation failure aborts the process,
//! and ONNX Runtime and liblsl allocate), so only `MCL_CURRENT` is asked
//! (refused with `ENOMEM` when the process is already larger than the limit),
//! and the report says why `MCL_FUTURE` was not.
//!
//! Only the main thread calls this, before the session threads pass their
//! start barrier: nothing here runs on a hot path.

use crate::report::RealtimeGrant;
use std::thread::JoinHandle;

/// `SCHED_FIFO` priority of the decoding worker.
pub const WORKER_PRIORITY: i32 = 30;
/// `SCHED_FIFO` priority of the LSL reader.
pub const READER_PRIORITY: i32 = 31;
/// `SCHED_FIFO` priority of the null sink's thread.
pub const SINK_PRIORITY: i32 = 32;

/// What was asked of `mlockall`.
const LOCK_ASKED: &str = "mlockall(MCL_CURRENT | MCL_FUTURE)";

impl std::fmt::Display for RealtimeGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.refused {
            None => write!(f, "{} {}", self.what, self.granted),
            Some(why) => write!(
                f,
                "{} {} (asked {}; {why})",
                self.what, self.granted, self.asked
            ),
        }
    }
}

/// The one-line summary of a session's requests: `off` when none was made.
pub fn summary(grants: Option<&[RealtimeGrant]>) -> String {
    match grants {
        None => "off (--no-realtime)".into(),
        Some(g) => g
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// An errno as its name and text, e.g. `EPERM: Operation not permitted`
/// (the names are Linux's numbers; the text is the OS's own).
pub fn errno_text(code: i32) -> String {
    let name = match code {
        1 => "EPERM",
        11 => "EAGAIN",
        12 => "ENOMEM",
        22 => "EINVAL",
        38 => "ENOSYS",
        _ => "",
    };
    let text = std::io::Error::from_raw_os_error(code).to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    if name.is_empty() {
        format!("errno {code}: {text}")
    } else {
        format!("{name}: {text}")
    }
}

/// The grant of a request this OS cannot make.
#[cfg(not(target_os = "linux"))]
fn unsupported(what: &str, asked: String) -> RealtimeGrant {
    RealtimeGrant {
        what: what.into(),
        asked,
        granted: "none".into(),
        refused: Some("not supported on this OS".into()),
    }
}

/// Locks the process's memory (see the module's comment for what is asked).
pub fn lock_memory() -> RealtimeGrant {
    #[cfg(target_os = "linux")]
    {
        linux::lock_memory()
    }
    #[cfg(not(target_os = "linux"))]
    {
        unsupported("memory", LOCK_ASKED.into())
    }
}

/// Asks `SCHED_FIFO` at `priority` for a session thread, by its handle.
pub fn set_fifo<T>(thread: &JoinHandle<T>, priority: i32) -> RealtimeGrant {
    let what = thread.thread().name().unwrap_or("(unnamed)");
    let asked = format!("SCHED_FIFO {priority}");
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::thread::JoinHandleExt;
        linux::set_fifo(thread.as_pthread_t(), what, asked, priority)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = priority;
        unsupported(what, asked)
    }
}

/// `SCHED_FIFO` priority `stream-file --realtime` asks for its serving
/// thread: above the session's threads, as an amplifier's clock is
/// independent of them (its chunk takes microseconds).
pub const SOURCE_PRIORITY: i32 = 33;

/// Asks `SCHED_FIFO` at `priority` for the calling thread.
pub fn set_fifo_current(what: &str, priority: i32) -> RealtimeGrant {
    let asked = format!("SCHED_FIFO {priority}");
    #[cfg(target_os = "linux")]
    {
        // SAFETY: pthread_self has no preconditions.
        linux::set_fifo(unsafe { libc::pthread_self() }, what, asked, priority)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = priority;
        unsupported(what, asked)
    }
}

/// The sound device's callback thread belongs to cpal: its `realtime`
/// feature promotes it through `audio_thread_priority`, which without
/// `realtime-dbus` is a no-op on Linux (see `sinks::cpal`).
pub fn device_callback() -> RealtimeGrant {
    RealtimeGrant {
        what: "cpal-callback".into(),
        asked: "nothing (cpal's own)".into(),
        granted: "as cpal left it (on Linux without D-Bus, unchanged)".into(),
        refused: None,
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use super::{LOCK_ASKED, RealtimeGrant, errno_text};

    const CAP_IPC_LOCK: u32 = 14;

    /// Whether the process has `cap` in its effective set.
    fn capable(cap: u32) -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("CapEff:"))?;
                u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
            })
            .is_some_and(|bits| bits & (1 << cap) != 0)
    }

    /// `RLIMIT_MEMLOCK`'s soft limit in bytes; `None` when unlimited.
    fn memlock_limit() -> Option<u64> {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid rlimit for the call to fill.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) };
        (rc == 0 && r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur)
    }

    fn mlockall(flags: i32) -> Result<(), i32> {
        // SAFETY: mlockall has no memory-safety preconditions.
        if unsafe { libc::mlockall(flags) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }

    pub fn lock_memory() -> RealtimeGrant {
        let mut g = RealtimeGrant {
            what: "memory".into(),
            asked: LOCK_ASKED.into(),
            granted: "none".into(),
            refused: None,
        };
        let mut why = Vec::new();
        match memlock_limit() {
            Some(limit) if !capable(CAP_IPC_LOCK) => why.push(format!(
                "MCL_FUTURE not asked: RLIMIT_MEMLOCK is {} kB and the process lacks \
                 CAP_IPC_LOCK, so allocations beyond it would fail",
                limit / 1024
            )),
            _ => match mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) {
                Ok(()) => {
                    g.granted = "MCL_CURRENT | MCL_FUTURE".into();
                    return g;
                }
                Err(e) => why.push(format!("MCL_FUTURE refused: {}", errno_text(e))),
            },
        }
        match mlockall(libc::MCL_CURRENT) {
            Ok(()) => g.granted = "MCL_CURRENT".into(),
            Err(e) => why.push(format!("MCL_CURRENT refused: {}", errno_text(e))),
        }
        g.refused = Some(why.join("; "));
        g
    }

    /// The thread's policy and priority as `SCHED_FIFO 30`, `SCHED_OTHER`, ...
    fn policy(thread: libc::pthread_t) -> String {
        let mut policy = 0;
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `thread` is a live thread (its JoinHandle is held), and
        // both out-parameters are valid.
        if unsafe { libc::pthread_getschedparam(thread, &mut policy, &mut param) } != 0 {
            return "unknown".into();
        }
        let p = param.sched_priority;
        match policy {
            libc::SCHED_FIFO => format!("SCHED_FIFO {p}"),
            libc::SCHED_RR => format!("SCHED_RR {p}"),
            libc::SCHED_OTHER => "SCHED_OTHER".into(),
            libc::SCHED_BATCH => "SCHED_BATCH".into(),
            libc::SCHED_IDLE => "SCHED_IDLE".into(),
            other => format!("policy {other}"),
        }
    }

    pub fn set_fifo(
        thread: libc::pthread_t,
        what: &str,
        asked: String,
        priority: i32,
    ) -> RealtimeGrant {
        let param = libc::sched_param {
            sched_priority: priority,
        };
        // SAFETY: as in `policy`; the call returns its error number.
        let rc = unsafe { libc::pthread_setschedparam(thread, libc::SCHED_FIFO, &param) };
        RealtimeGrant {
            what: what.into(),
            asked,
            granted: policy(thread),
            refused: (rc != 0).then(|| errno_text(rc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(refused: Option<&str>) -> RealtimeGrant {
        RealtimeGrant {
            what: "ns-worker".into(),
            asked: "SCHED_FIFO 30".into(),
            granted: if refused.is_some() {
                "SCHED_OTHER"
            } else {
                "SCHED_FIFO 30"
            }
            .into(),
            refused: refused.map(Into::into),
        }
    }

    #[test]
    fn grants_and_refusals_read_as_one_line() {
        assert_eq!(grant(None).to_string(), "ns-worker SCHED_FIFO 30");
        let no = grant(Some(&errno_text(1)));
        assert_eq!(
            no.to_string(),
            "ns-worker SCHED_OTHER (asked SCHED_FIFO 30; EPERM: Operation not permitted)"
        );
        let both = [grant(None), no];
        assert_eq!(summary(Some(&both)), format!("{}, {}", both[0], both[1]));
        assert_eq!(summary(None), "off (--no-realtime)");
    }

    #[test]
    fn errnos_read_with_their_names() {
        assert_eq!(errno_text(12), "ENOMEM: Cannot allocate memory");
        assert!(
            errno_text(999).starts_with("errno 999: "),
            "{}",
            errno_text(999)
        );
    }
}
