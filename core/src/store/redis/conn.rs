//! Connections: made lazily, kept in a small per-process pool, tagged with
//! the process id (a child after `fork()` never uses its parent's sockets),
//! and dropped after any I/O error or timeout, so that a late reply can
//! never be read as the answer to another command. Every round trip is
//! armed with what is left of the operation's one deadline.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Cmd, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};

use super::cluster::{Cluster, Links};

/// Idle connections kept per process.
const MAX_IDLE: usize = 32;

/// One connection to a server or to a cluster.
enum Conn {
    Single(redis::Connection),
    Cluster(Box<Links>),
}

enum Target {
    Single(Box<redis::Client>),
    Cluster(Box<Cluster>),
}

pub(crate) struct Pool {
    target: Target,
    connect_timeout: Duration,
    /// The process the idle connections belong to, and the connections.
    idle: Mutex<(u32, Vec<Conn>)>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

pub(crate) fn timed_out() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "store.timeout passed",
    ))
}

/// The deadline passed between commands, with nothing left unanswered.
fn deadline_passed() -> RedisError {
    RedisError::from((ErrorKind::Client, "store.timeout passed"))
}

fn pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}

/// Whether the connection is still in step with the server after `e`: a
/// reply that is an error leaves it so; an I/O error or a timeout does not.
fn keeps_connection(e: &RedisError) -> bool {
    !e.is_io_error()
        && !e.is_timeout()
        && !e.is_connection_dropped()
        && !e.is_connection_refusal()
        && e.kind() != ErrorKind::Server(ServerErrorKind::ReadOnly)
        && !e.to_string().contains("READONLY")
}

/// Whether `e` is Redis's answer to the command (not a failure to get one).
pub(crate) fn answered(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(_) | ErrorKind::Extension)
        && !e.is_io_error()
        && !e.is_timeout()
}

/// Whether Redis no longer holds the script (a restart, a failover, `SCRIPT FLUSH`).
pub(crate) fn is_noscript(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) || e.to_string().contains("NOSCRIPT")
}

impl Pool {
    pub(crate) fn new(
        url: Option<&str>,
        cluster: &[String],
        timeout: Duration,
        connect_timeout: Duration,
    ) -> RedisResult<Pool> {
        // rustls needs a process-wide crypto provider; keep one an
        // application installed, else install ring (never panic on rediss://).
        let _ = rustls::crypto::ring::default_provider().install_default();
        // No `CLIENT SETINFO` after connecting: two more replies to wait
        // for, each bounded only by the connect timeout.
        let info = |url: &str| -> RedisResult<redis::ConnectionInfo> {
            let info = redis::IntoConnectionInfo::into_connection_info(url)?;
            let settings = info.redis_settings().clone().set_skip_set_lib_name();
            Ok(info.set_redis_settings(settings))
        };
        let target = match url {
            Some(url) => Target::Single(Box::new(redis::Client::open(info(url)?)?)),
            None if cluster.is_empty() => {
                return Err(RedisError::from((
                    ErrorKind::InvalidClientConfig,
                    "no cluster seed",
                )))
            }
            None => Target::Cluster(Box::new(Cluster::new(
                cluster
                    .iter()
                    .map(|u| info(u))
                    .collect::<RedisResult<_>>()?,
                connect_timeout.min(timeout),
            ))),
        };
        Ok(Pool {
            target,
            connect_timeout,
            idle: Mutex::new((pid(), Vec::new())),
        })
    }

    fn take(&self) -> Option<Conn> {
        let me = pid();
        let mut idle = self.idle.lock();
        if idle.0 != me {
            // Forked: the sockets belong to the parent. Forget them without
            // closing anything a TLS goodbye could write into.
            for conn in idle.1.drain(..) {
                std::mem::forget(conn);
            }
            idle.0 = me;
        }
        idle.1.pop()
    }

    fn give_back(&self, conn: Conn) {
        let mut idle = self.idle.lock();
        if idle.0 == pid() && idle.1.len() < MAX_IDLE {
            idle.1.push(conn);
        }
    }

    fn connect(&self, deadline: Instant) -> RedisResult<Conn> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        Ok(match &self.target {
            Target::Single(c) => {
                Conn::Single(c.get_connection_with_timeout(self.connect_timeout.min(left))?)
            }
            // Node connections are made as the commands need them.
            Target::Cluster(_) => Conn::Cluster(Box::default()),
        })
    }

    /// Whether this pool talks to a single server (one circuit breaker).
    pub(crate) fn single(&self) -> bool {
        matches!(self.target, Target::Single(_))
    }

    /// Runs `f` on a connection of this process, before `deadline`. `gate`
    /// admits (or refuses) each circuit-breaker bucket the first time a
    /// command of the operation goes to it: on one server there is one,
    /// checked before connecting.
    pub(crate) fn with<T>(
        &self,
        deadline: Instant,
        round_trips: &std::sync::atomic::AtomicU64,
        gate: &dyn Fn(usize) -> bool,
        f: impl FnOnce(&mut Session<'_>) -> RedisResult<T>,
    ) -> Outcome<T> {
        let single = self.single();
        if single && !gate(0) {
            return Outcome {
                result: Err(circuit_open()),
                touched: 0,
                failed: None,
            };
        }
        let conn = match self.take() {
            Some(c) => Ok(c),
            None => self.connect(deadline),
        };
        let mut conn = match conn {
            Ok(c) => c,
            Err(e) => {
                return Outcome {
                    result: Err(e),
                    touched: u64::from(single),
                    failed: None,
                }
            }
        };
        let mut session = Session {
            conn: &mut conn,
            cluster: match &self.target {
                Target::Cluster(c) => Some(c),
                Target::Single(_) => None,
            },
            deadline,
            round_trips,
            gate,
            single,
            touched: u64::from(single),
            failed: None,
        };
        let result = f(&mut session);
        let (touched, failed) = (session.touched, session.failed);
        match &result {
            Ok(_) => self.give_back(conn),
            Err(e) if keeps_connection(e) => self.give_back(conn),
            Err(_) => {}
        }
        Outcome {
            result,
            touched,
            failed,
        }
    }
}

/// What an operation did: its result, the circuit-breaker buckets it sent
/// commands to (a bit each), and the bucket of the command that failed
/// without an answer, when one did.
pub(crate) struct Outcome<T> {
    pub(crate) result: RedisResult<T>,
    pub(crate) touched: u64,
    pub(crate) failed: Option<usize>,
}

/// Circuit-breaker buckets on a cluster: each holds 1024 consecutive hash
/// slots, so that a node that stops answering opens the buckets of its own
/// slots, and the other nodes' keys keep being served.
pub(crate) const BUCKETS: usize = 16;

/// The refusal of a command whose bucket's circuit is open.
fn circuit_open() -> RedisError {
    RedisError::from((
        ErrorKind::Client,
        "the circuit is open after repeated failures",
    ))
}

/// Whether `e` is a refusal by an open circuit (nothing was sent).
pub(crate) fn is_circuit_open(e: &RedisError) -> bool {
    e.kind() == ErrorKind::Client && e.to_string().contains("the circuit is open")
}

/// Redis Cluster's hash slot of `key` (CRC16/XMODEM of its hash tag, if any).
fn slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let close = key[open + 1..].iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &key[open + 1..open + 1 + close])
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &b in tagged {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// The key a command of this store goes by, if any (`TIME` and `INFO` have none).
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    let arg = |i: usize| match cmd.args_iter().nth(i)? {
        redis::Arg::Simple(a) => Some(a),
        _ => None,
    };
    let name = arg(0)?;
    if name.eq_ignore_ascii_case(b"EVAL") || name.eq_ignore_ascii_case(b"EVALSHA") {
        (arg(2)? != b"0").then_some(())?;
        arg(3)
    } else if name.eq_ignore_ascii_case(b"TIME") || name.eq_ignore_ascii_case(b"INFO") {
        None
    } else {
        arg(1)
    }
}

/// A connection for the length of one operation.
pub(crate) struct Session<'a> {
    conn: &'a mut Conn,
    cluster: Option<&'a Cluster>,
    deadline: Instant,
    round_trips: &'a std::sync::atomic::AtomicU64,
    gate: &'a dyn Fn(usize) -> bool,
    single: bool,
    touched: u64,
    failed: Option<usize>,
}

impl Session<'_> {
    /// Admits `cmd` through its bucket's circuit breaker (the first time the
    /// operation goes to that bucket); its bucket, if it has one.
    fn enter(&mut self, cmd: &Cmd) -> RedisResult<Option<usize>> {
        let bucket = if self.single {
            Some(0)
        } else {
            key_of(cmd).map(|k| usize::from(slot(k)) * BUCKETS / 16384)
        };
        if let Some(b) = bucket {
            if self.touched & (1 << b) == 0 {
                if !(self.gate)(b) {
                    return Err(circuit_open());
                }
                self.touched |= 1 << b;
            }
        }
        Ok(bucket)
    }

    /// Sets the socket timeouts to what is left of the deadline.
    fn arm(&mut self) -> RedisResult<()> {
        self.arm_for(1)
    }

    /// Sets the socket timeouts for a round trip that reads `replies`
    /// replies. The client reads a pipeline's replies one by one, each read
    /// bounded by the socket's read timeout, and goes on reading after one
    /// times out (to stay in step): each read gets an equal share of what is
    /// left, so that a server that stops answering costs at most the deadline.
    fn arm_for(&mut self, replies: usize) -> RedisResult<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // Nothing is sent: the connection stays in step and is kept
            // (on a cluster, opening one can take most of the deadline).
            return Err(deadline_passed());
        }
        self.round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let each = (left / u32::try_from(replies.max(1)).unwrap_or(u32::MAX))
            .max(Duration::from_millis(1));
        match self.conn {
            Conn::Single(c) => {
                c.set_read_timeout(Some(each))?;
                c.set_write_timeout(Some(left))
            }
            // The cluster's router arms its own connections.
            Conn::Cluster(_) => Ok(()),
        }
    }

    /// Sends `cmds` and returns their replies in order; a reply that is an
    /// error fails the whole call.
    pub(crate) fn pipeline(&mut self, cmds: &[Cmd]) -> RedisResult<Vec<Value>> {
        self.pipeline_each(cmds)?.into_iter().collect()
    }

    /// Sends `cmds` and returns each one's reply, or the error Redis answered
    /// it with (`NOSCRIPT`, ...); an I/O error or a timeout fails the call.
    ///
    /// On one server: one round trip. On a cluster: one pipeline per node
    /// that serves the commands' slots, all sent at once, with redirections
    /// followed (see `cluster.rs`).
    pub(crate) fn pipeline_each(&mut self, cmds: &[Cmd]) -> RedisResult<Vec<RedisResult<Value>>> {
        if self.single {
            self.arm_for(cmds.len())?;
            let Conn::Single(c) = &mut *self.conn else {
                unreachable!()
            };
            let mut p = redis::pipe();
            for cmd in cmds {
                p.add_command(cmd.clone());
            }
            let out = p.ignore_errors().query(c);
            if out.is_err() {
                self.failed = Some(0);
            }
            return out;
        }
        let mut buckets = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            buckets.push(self.enter(cmd)?);
        }
        if self.deadline <= Instant::now() {
            // Nothing is sent: the connections stay in step and are kept.
            return Err(deadline_passed());
        }
        let (Some(cluster), Conn::Cluster(links)) = (self.cluster, &mut *self.conn) else {
            unreachable!()
        };
        let slot_of = |cmd: &Cmd| key_of(cmd).map(slot);
        cluster
            .pipeline(links, cmds, &slot_of, self.deadline, self.round_trips)
            .map_err(|f| {
                self.failed = f.at.and_then(|i| buckets[i]);
                f.error
            })
    }

    /// One command, one round trip (on a cluster, `INFO` goes to every primary).
    pub(crate) fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        if !self.single && key_of(cmd).is_none() && is_info(cmd) {
            if self.deadline <= Instant::now() {
                return Err(deadline_passed());
            }
            let (Some(cluster), Conn::Cluster(links)) = (self.cluster, &mut *self.conn) else {
                unreachable!()
            };
            return cluster
                .on_every_primary(links, cmd, self.deadline, self.round_trips)
                .map_err(|f| f.error);
        }
        if !self.single {
            let mut replies = self.pipeline_each(std::slice::from_ref(cmd))?;
            return replies.pop().expect("one reply");
        }
        let bucket = self.enter(cmd)?;
        self.arm()?;
        let out = match self.conn {
            Conn::Single(c) => cmd.query(c),
            Conn::Cluster(_) => unreachable!(),
        };
        if matches!(&out, Err(e) if !answered(e)) {
            self.failed = bucket;
        }
        out
    }
}

fn is_info(cmd: &Cmd) -> bool {
    matches!(cmd.args_iter().next(), Some(redis::Arg::Simple(a)) if a.eq_ignore_ascii_case(b"INFO"))
}

#[cfg(test)]
mod tests {
    use super::{key_of, slot};

    /// The slots Redis Cluster computes (`CLUSTER KEYSLOT`).
    #[test]
    fn slots_are_redis_clusters() {
        assert_eq!(slot(b"123456789"), 12739);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(
            slot(b"lg:{0123456789abcdef}:account"),
            slot(b"0123456789abcdef")
        );
        assert_eq!(slot(b"a{}b"), slot(b"a{}b")); // an empty tag hashes the whole key
        assert_ne!(slot(b"a{}b"), slot(b""));
    }

    #[test]
    fn commands_go_by_their_key() {
        let evalsha = redis::cmd("EVALSHA")
            .arg("sha")
            .arg(2)
            .arg("k1")
            .arg("k2")
            .clone();
        assert_eq!(key_of(&evalsha), Some(&b"k1"[..]));
        assert_eq!(key_of(redis::cmd("GET").arg("k")), Some(&b"k"[..]));
        assert_eq!(key_of(&redis::cmd("TIME")), None);
        assert_eq!(key_of(&redis::cmd("INFO")), None);
    }
}
