//! A real SNMP agent for tests: Debian's net-snmp `snmpd`, started by `scripts/snmpd.sh` on a
//! loopback address with the script's static interface table. Stopped on drop.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};

/// A running snmpd from `scripts/snmpd.sh`.
pub struct Agent {
    dir: tempfile::TempDir,
    /// The address it listens on.
    pub ip: IpAddr,
    /// The UDP port it listens on.
    pub port: u16,
    env: HashMap<String, String>,
}

/// True when `snmpd` is installed.
pub fn installed() -> bool {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("snmpd").is_file()));
    on_path || Path::new("/usr/sbin/snmpd").is_file()
}

fn script() -> PathBuf {
    crate::repo_root().join("scripts/snmpd.sh")
}

impl Agent {
    /// An agent serving the `full` table (ifTable and ifXTable) or `iftable` (ifTable only) on
    /// its own loopback address (127.0.0.5, 127.0.0.6... per test process). `None` when snmpd is
    /// missing and skipping is allowed (see [`crate::missing`]).
    pub fn start(test: &str, table: &str) -> Option<Agent> {
        static NEXT: AtomicU8 = AtomicU8::new(5);
        let ip: IpAddr = [127, 0, 0, NEXT.fetch_add(1, Ordering::Relaxed)].into();
        Agent::start_on(test, table, ip)
    }

    /// [`Agent::start`] on a given address (a free port is picked).
    pub fn start_on(test: &str, table: &str, ip: IpAddr) -> Option<Agent> {
        if !installed() {
            crate::missing(
                test,
                "snmpd is not installed (scripts/install-deps.sh installs it)",
            );
            return None;
        }
        let port = crate::free_port();
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(script())
            .args(["start", &ip.to_string(), &port.to_string()])
            .arg(dir.path())
            .env("SLUICE_SNMPD_TABLE", table)
            .output()
            .expect("running scripts/snmpd.sh");
        assert!(
            out.status.success(),
            "scripts/snmpd.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let env = String::from_utf8(out.stdout)
            .expect("utf-8")
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>();
        assert_eq!(
            env.get("SLUICE_TEST_SNMPD_ADDR"),
            Some(&format!("{ip}:{port}")),
            "{env:?}"
        );
        Some(Agent { dir, ip, port, env })
    }

    /// A value the script printed (`SLUICE_TEST_SNMP_COMMUNITY`, the v3 user...).
    pub fn var(&self, k: &str) -> String {
        self.env
            .get(k)
            .unwrap_or_else(|| panic!("scripts/snmpd.sh printed no {k}"))
            .clone()
    }

    /// Stops the agent now (it can't be started again).
    pub fn stop(&self) {
        let out = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output()
            .expect("running scripts/snmpd.sh stop");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}
