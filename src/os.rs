//! What the server asks of the operating system at start.

/// Raises the soft limit on open files (`RLIMIT_NOFILE`) to the hard limit, so that every
/// connection the operator allows can be accepted: each TCP connection (a WebSocket, a
/// held long-poll) costs one descriptor, and distributions start processes with a soft
/// limit of 1,024 whatever the hard limit is. Returns the soft limit in force afterwards
/// (and whether raising it failed), for the start-up log.
pub fn raise_open_files_limit() -> OpenFiles {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return OpenFiles { limit: None, before: None, error: Some(std::io::Error::last_os_error().to_string()) };
        }
        let before = lim.rlim_cur as u64;
        let mut target = lim.rlim_max;
        // macOS refuses more than OPEN_MAX for the soft limit even when the hard one is unlimited.
        #[cfg(target_os = "macos")]
        {
            target = target.min(libc::OPEN_MAX as libc::rlim_t);
        }
        if target == libc::RLIM_INFINITY {
            target = lim.rlim_cur.max(1 << 20);
        }
        if lim.rlim_cur >= target {
            return OpenFiles { limit: Some(before), before: Some(before), error: None };
        }
        let raised = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return OpenFiles { limit: Some(before), before: Some(before), error: Some(std::io::Error::last_os_error().to_string()) };
        }
        OpenFiles { limit: Some(target as u64), before: Some(before), error: None }
    }
    #[cfg(not(unix))]
    {
        OpenFiles { limit: None, before: None, error: None }
    }
}

/// The soft open-files limit in force now.
pub fn open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit only writes the struct we pass.
        (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// The open-files limit of this process.
#[derive(Debug, Clone)]
pub struct OpenFiles {
    /// The soft limit now in force (None: unknown on this platform).
    pub limit: Option<u64>,
    /// The soft limit the process was started with.
    pub before: Option<u64>,
    /// Why it could not be read or raised.
    pub error: Option<String>,
}

/// Descriptors kept aside for the database pool, log files, the listener and the like.
pub const RESERVED_DESCRIPTORS: u64 = 100;

impl OpenFiles {
    /// How many client connections fit: one descriptor each, less a reserve.
    pub fn connections(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(RESERVED_DESCRIPTORS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        let got = raise_open_files_limit();
        assert!(got.error.is_none(), "{got:?}");
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        assert_eq!(Some(lim.rlim_cur as u64), got.limit);
        if lim.rlim_max != libc::RLIM_INFINITY {
            assert_eq!(lim.rlim_cur, lim.rlim_max);
        }
        assert!(got.connections().unwrap() < got.limit.unwrap());
    }
}
