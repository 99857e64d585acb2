//! Stopping processes the lab started, by pid only.

use std::time::{Duration, Instant};

use crate::cmd::{Result, run};

/// True while `/proc/PID` exists and the process is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL.
pub fn terminate(pid: u32, grace: Duration) -> Result<()> {
    if !alive(pid) {
        return Ok(());
    }
    let p = pid.to_string();
    let _ = run("kill", &["-TERM", p.as_str()]);
    let deadline = Instant::now() + grace;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive(pid) {
        run("kill", &["-KILL", p.as_str()])?;
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(())
}

/// SIGKILL at once (tests of crash behaviour).
pub fn kill9(pid: u32) -> Result<()> {
    run("kill", &["-KILL", &pid.to_string()]).map(|_| ())
}
