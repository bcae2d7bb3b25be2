//! Redis servers for tests: each test starts its own `redis-server` on a free
//! loopback port, with no persistence, and stops it by pid when dropped
//! (also when the test panics). Without `redis-server` the tests are skipped,
//! unless `LG_REQUIRE_REDIS=1` (as `make test` sets), which fails them.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use loginguard::{Attempt, Guard, ManualClock, Policy, RedisClock, StoreKind};

/// Whether redis-server can be run; panics when it cannot but is required.
pub fn available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("LG_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!(
                "redis-server is not installed, and LG_REQUIRE_REDIS=1 requires it: \
                 install Debian's redis-server (make test does: apt-get install redis-server)"
            );
        }
        eprintln!(
            "skipped: redis-server is not installed (set LG_REQUIRE_REDIS=1 to fail instead)"
        );
    }
    found
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// The first port the kernel hands out to outgoing connections. A test
/// server's port (and its cluster bus, port + 10000) stays below it: a port in
/// that range can be taken by any client or cluster-bus connection between the
/// check that it is free and redis-server's bind.
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

/// A port, free with port + 10000 (a cluster node's bus), and `n - 1` after it,
/// all below the ephemeral range.
pub fn free_ports(n: u16) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u16 = 12_000;
    let high = ephemeral_low().saturating_sub(10_000 + n).max(LOW + 1_000);
    let span = u32::from(high - LOW);
    let first = std::process::id() % 1_000 * 10;
    loop {
        let p = LOW + ((first + NEXT.fetch_add(u32::from(n), Ordering::SeqCst)) % span) as u16;
        if (p..p + n).all(|q| port_is_free(q) && port_is_free(q + 10_000)) {
            return p;
        }
    }
}

/// How many fresh ports a server or cluster is tried on before the test fails.
const START_TRIES: usize = 5;

/// One redis-server process.
pub struct Server {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    extra: Vec<String>,
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

impl Server {
    /// A standalone server.
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// A standalone server with extra arguments, on the first free port it
    /// starts on.
    pub fn start_with(extra: &[&str]) -> Server {
        let mut why = String::new();
        for _ in 0..START_TRIES {
            match Server::try_start_on(free_ports(1), extra) {
                Ok(s) => return s,
                Err(e) => why = e,
            }
        }
        panic!("{why} ({START_TRIES} ports tried)");
    }

    /// A server on `port` with extra arguments.
    pub fn start_on(port: u16, extra: &[&str]) -> Server {
        Server::try_start_on(port, extra).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A server on `port`, or why it did not start (it exited, or never answered).
    pub fn try_start_on(port: u16, extra: &[&str]) -> Result<Server, String> {
        let dir = std::env::temp_dir().join(format!("lg-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut s = Server {
            port,
            child: None,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        s.spawn()?;
        Ok(s)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--daemonize", "no", "--protected-mode", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let child = self.child.insert(child);
        let start = Instant::now();
        while !ping(self.port) {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!("redis-server on {} exited: {status}", self.port));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("redis-server on {} did not answer", self.port));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the server.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig}");
    }

    /// Kills the server (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Runs `redis-cli` against the server; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every key matching `pattern`.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        self.cli(&["--scan", "--pattern", pattern])
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A stopped server must be continued to die promptly.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A node's role, as `ROLE` tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Primary,
    /// A replica of the primary on this port.
    Replica(u16),
    Unknown,
}

/// A 3-node Redis Cluster on loopback, slots spread by `redis-cli --cluster create`.
pub struct Cluster {
    pub nodes: Vec<Server>,
    /// Primaries it was created with.
    pub shards: usize,
}

impl Cluster {
    pub fn start() -> Cluster {
        Cluster::start_with(3, 0, &["--cluster-node-timeout", "2000"])
    }

    /// `nodes` servers (given `extra` arguments), `replicas` replicas per
    /// primary; returns once every node sees `cluster_state:ok` and every
    /// replica's link to its primary is up.
    pub fn start_with(count: u16, replicas: u16, extra: &[&str]) -> Cluster {
        let mut why = String::new();
        let nodes = (0..START_TRIES)
            .find_map(|_| {
                let base = free_ports(count);
                let started: Result<Vec<Server>, String> = (0..count)
                    .map(|i| {
                        let port = base + i;
                        let conf = format!("nodes-{port}.conf");
                        let mut args =
                            vec!["--cluster-enabled", "yes", "--cluster-config-file", &conf];
                        args.extend_from_slice(extra);
                        Server::try_start_on(port, &args)
                    })
                    .collect();
                started.map_err(|e| why = e).ok()
            })
            .unwrap_or_else(|| panic!("{why} ({START_TRIES} port ranges tried)"));
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create runs");
        assert!(
            out.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let shards = (count / (replicas + 1)) as usize;
        let cluster = Cluster { nodes, shards };
        cluster.wait_ok(&[], Duration::from_secs(30));
        cluster
    }

    /// Waits until every node but those in `skip` (stopped ones: redis-cli
    /// would wait for them forever) sees `cluster_state:ok`, there are
    /// as many primaries as at the start, and every replica's link is up.
    pub fn wait_ok(&self, skip: &[usize], within: Duration) {
        let start = Instant::now();
        loop {
            let live: Vec<&Server> = (0..self.nodes.len())
                .filter(|i| !skip.contains(i))
                .map(|i| &self.nodes[i])
                .collect();
            let ok = live.iter().all(|n| {
                n.cli(&["cluster", "info"]).contains("cluster_state:ok")
                    && match self.role_of(n) {
                        Role::Primary => true,
                        Role::Replica(_) => n
                            .cli(&["info", "replication"])
                            .contains("master_link_status:up"),
                        Role::Unknown => false,
                    }
            });
            let primaries = live
                .iter()
                .filter(|n| self.role_of(n) == Role::Primary)
                .count();
            if ok && primaries == self.shards {
                return;
            }
            assert!(
                start.elapsed() < within,
                "the cluster did not come (back) up within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What `ROLE` says node `n` is.
    pub fn role_of(&self, n: &Server) -> Role {
        let out = n.cli(&["role"]);
        let mut lines = out.lines();
        match lines.next() {
            Some("master") => Role::Primary,
            Some("slave") => match lines.nth(1).and_then(|p| p.parse().ok()) {
                Some(port) => Role::Replica(port),
                None => Role::Unknown,
            },
            _ => Role::Unknown,
        }
    }

    /// The index of the node on `port`.
    pub fn index_of(&self, port: u16) -> usize {
        self.nodes.iter().position(|n| n.port == port).unwrap()
    }

    /// The indexes of the nodes that are primaries now (`skip`: stopped ones).
    pub fn primaries(&self, skip: &[usize]) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| !skip.contains(i) && self.role_of(&self.nodes[*i]) == Role::Primary)
            .collect()
    }

    /// The index of a replica of the primary on `port`.
    pub fn replica_of(&self, port: u16) -> usize {
        (0..self.nodes.len())
            .find(|i| self.role_of(&self.nodes[*i]) == Role::Replica(port))
            .unwrap_or_else(|| panic!("no replica of {port}"))
    }

    /// `INFO errorstats`' count of `error` (e.g. `NOSCRIPT`, `MOVED`) on node `i`.
    pub fn error_count(&self, i: usize, error: &str) -> u64 {
        let needle = format!("errorstat_{error}:count=");
        self.nodes[i]
            .cli(&["info", "errorstats"])
            .lines()
            .find_map(|l| l.trim().strip_prefix(&needle)?.parse().ok())
            .unwrap_or(0)
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// Which node holds `key`'s slot.
    pub fn node_of(&self, key: &str) -> u16 {
        let slot: u16 = self.nodes[0]
            .cli(&["cluster", "keyslot", key])
            .trim()
            .parse()
            .unwrap();
        for n in &self.nodes {
            let out = n.cli(&["cluster", "countkeysinslot", &slot.to_string()]);
            let _ = out;
        }
        let shards = self.nodes[0].cli(&["cluster", "slots"]);
        // Lines: start, end, ip, port, id, ... repeated per range.
        let lines: Vec<&str> = shards.lines().collect();
        let mut i = 0;
        while i + 3 < lines.len() {
            if let (Ok(a), Ok(b)) = (lines[i].parse::<u16>(), lines[i + 1].parse::<u16>()) {
                if (a..=b).contains(&slot) {
                    return lines[i + 3].parse().unwrap();
                }
            }
            i += 1;
        }
        panic!("no node holds slot {slot}");
    }
}

/// A policy's store section for a redis server, counting on the guard's
/// (manual) clock, with a deadline generous enough for a loaded test machine.
pub fn on_redis(policy: &mut Policy, url: &str, prefix: &str) {
    policy.store.kind = StoreKind::Redis;
    policy.store.redis.url = Some(url.to_string());
    policy.store.redis.prefix = prefix.to_string();
    policy.store.redis.clock = RedisClock::Host;
    policy.store.redis.timeout = Duration::from_secs(5);
    policy.store.redis.connect_timeout = Duration::from_secs(2);
}

/// What `f` returns, and the round trips it made on the redis guard `g`
/// (`stats()` makes some of its own: measured first, then taken off).
pub fn counted<T>(g: &Guard, f: impl FnOnce() -> T) -> (T, u64) {
    let trips = || g.stats().redis.unwrap().round_trips;
    let (a, b) = (trips(), trips());
    let out = f();
    (out, trips() - b - (b - a))
}

/// Freezes `server` (SIGSTOP) after one failure recorded through a guard on
/// `policy` with a one-second deadline, and checks that each of `check`,
/// `begin` and `record_failure` then returns `degraded` within about one
/// deadline: not one per reply of a pipelined round trip, nor one per reply
/// of a reconnect's handshake (the first three calls wait; the breaker opens
/// after three failures).
pub fn assert_frozen_calls_take_one_deadline(server: &Server, mut policy: Policy, prefix: &str) {
    on_redis(&mut policy, &server.url(), prefix);
    // Long enough that the slack below dwarfs a loaded machine's scheduling
    // delays, while one deadline per reply (three for `check`) stays far out.
    let timeout = Duration::from_millis(1000);
    policy.store.redis.timeout = timeout;
    let g = Guard::with_clock(policy, std::sync::Arc::new(ManualClock::new())).unwrap();
    let a = Attempt::new().account("alice").ip("192.0.2.1");
    g.record_failure(&a).unwrap();
    server.signal("STOP");
    for op in ["check", "begin", "record_failure"] {
        let started = Instant::now();
        let d = match op {
            "check" => g.check(&a),
            "begin" => g.begin(&a, false),
            _ => g.record_failure(&a),
        }
        .unwrap();
        let took = started.elapsed();
        assert!(d.degraded, "{op}: {d:?}");
        // A bound with slack for a loaded machine, well under two deadlines.
        assert!(took < timeout * 17 / 10, "{op} took {took:?}");
    }
    server.signal("CONT");
}
