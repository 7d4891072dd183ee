//! A lab of hosts: network namespaces on one bridge (in a namespace of its own), torn down whatever happens.
//!
//! Nothing is added to the root namespace: the bridge lives in its own
//! namespace, each veth pair is created there with its host end moved
//! straight into the host's namespace. Addresses come from 192.0.2.0/24
//! (documentation) and fd00::/64 (unique local), used only inside the lab.
//! Each host gets `/etc/netns/NS/hosts` (the lab's names) and a
//! `resolv.conf` naming 127.0.0.1, so a name lookup never leaves the
//! machine. Names carry the test's pid and a counter, so parallel runs do
//! not clash, and leftovers of a run that was killed are removed by the next.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every namespace a lab creates: `pcnr{pid}x{n}-{host}`.
const PREFIX: &str = "pcnr";

/// One host of a lab: a namespace with an `eth0` on the bridge.
#[derive(Debug, Clone)]
pub struct Host {
    /// The host's name (also its name in every host's `/etc/hosts`).
    pub name: String,
    /// Its namespace.
    pub ns: String,
    /// Its IPv4 address, if it has one.
    pub v4: Option<String>,
    /// Its IPv6 address, if it has one.
    pub v6: Option<String>,
    /// The bridge port its link hangs on (in the bridge namespace).
    port: String,
}

/// What a host should have: a name and which address families.
pub struct Spec {
    pub name: &'static str,
    pub v4: bool,
    pub v6: bool,
}

/// Namespaces on a bridge; dropping the lab kills what runs in them and deletes them.
pub struct Lab {
    bridge: String,
    pub hosts: Vec<Host>,
    namespaces: Vec<String>,
    etc_dirs: Vec<PathBuf>,
}

/// Runs `ip ARGS`; an error names the command and what `ip` said.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

impl Lab {
    /// Creates the hosts of `specs` (host `i` gets 192.0.2.(11+i) and
    /// fd00::(11+i) as asked) on one bridge.
    pub fn create(specs: &[Spec]) -> Result<Lab, String> {
        remove_leftovers();
        static RUNS: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "{PREFIX}{}x{}",
            std::process::id(),
            RUNS.fetch_add(1, Ordering::Relaxed)
        );
        let mut lab = Lab {
            bridge: format!("{tag}-br"),
            hosts: Vec::new(),
            namespaces: Vec::new(),
            etc_dirs: Vec::new(),
        };
        let br = lab.bridge.clone();
        lab.add_ns(&br)?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        for (i, spec) in specs.iter().enumerate() {
            let ns = format!("{tag}-{}", spec.name);
            lab.add_ns(&ns)?;
            let port = format!("v-{}", spec.name);
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&[
                "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ])?;
            ip(&["-n", &br, "link", "set", &port, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &port, "up"])?;
            let v4 = spec.v4.then(|| format!("192.0.2.{}", 11 + i));
            let v6 = spec.v6.then(|| format!("fd00::{}", 11 + i));
            if let Some(a) = &v4 {
                ip(&["-n", &ns, "addr", "add", &format!("{a}/24"), "dev", "eth0"])?;
            }
            if let Some(a) = &v6 {
                let cidr = format!("{a}/64");
                ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0", "nodad"])?;
            }
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            lab.hosts.push(Host {
                name: spec.name.to_string(),
                ns,
                v4,
                v6,
                port,
            });
        }
        lab.write_etc()?;
        Ok(lab)
    }

    fn add_ns(&mut self, ns: &str) -> Result<(), String> {
        ip(&["netns", "add", ns])?;
        self.namespaces.push(ns.to_string());
        Ok(())
    }

    /// Every host's `/etc/netns/NS/hosts` names all hosts (by their IPv4
    /// address when they have one), and its `resolv.conf` points at the
    /// namespace's own loopback, where nothing answers.
    fn write_etc(&mut self) -> Result<(), String> {
        let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
        for h in &self.hosts {
            if let Some(a) = h.v4.as_ref().or(h.v6.as_ref()) {
                let _ = writeln!(hosts, "{a} {}", h.name);
            }
        }
        for h in &self.hosts {
            let dir = PathBuf::from("/etc/netns").join(&h.ns);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            self.etc_dirs.push(dir.clone());
            let write = |file: &str, text: &str| {
                std::fs::write(dir.join(file), text).map_err(|e| format!("{file}: {e}"))
            };
            write("hosts", &hosts)?;
            write("resolv.conf", "nameserver 127.0.0.1\n")?;
        }
        Ok(())
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name} in the lab"))
    }

    /// Cuts `name`'s link (its bridge port goes down): nothing reaches it or leaves it.
    pub fn cut(&self, name: &str) -> Result<(), String> {
        let port = &self.host(name).port;
        ip(&["-n", &self.bridge, "link", "set", port, "down"])
    }

    /// Restores `name`'s link.
    pub fn restore(&self, name: &str) -> Result<(), String> {
        let port = &self.host(name).port;
        ip(&["-n", &self.bridge, "link", "set", port, "up"])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            kill_inside(ns);
            let _ = ip(&["netns", "del", ns]);
        }
        for dir in &self.etc_dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Kills, by pid, every process still running in `ns` (the test's own).
fn kill_inside(ns: &str) {
    for pid in ip_output(&["netns", "pids", ns]).split_whitespace() {
        if pid.parse::<u32>().is_ok() {
            let _ = Command::new("kill").args(["-9", pid]).status();
        }
    }
}

/// Deletes the namespaces (and `/etc/netns` folders) of labs whose test
/// process is gone: what a killed run could not clean up.
fn remove_leftovers() {
    for line in ip_output(&["netns", "list"]).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('x').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if PathBuf::from(format!("/proc/{pid}")).exists() {
            continue;
        }
        kill_inside(name);
        let _ = ip(&["netns", "del", name]);
        let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(name));
    }
}
