//! Connections: made lazily, kept in a small per-process pool, tagged with
//! the process id (a child after `fork()` never uses its parent's sockets),
//! and dropped after any I/O error or timeout, so that a late reply can
//! never be read as the answer to another command. Every round trip is
//! armed with what is left of the operation's one deadline.

use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use redis::{Cmd, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};

/// Idle connections kept per process.
const MAX_IDLE: usize = 32;

/// One connection to a server or to a cluster.
enum Conn {
    Single(redis::Connection),
    Cluster(Box<ClusterConnection>),
}

enum Target {
    Single(redis::Client),
    Cluster(ClusterClient),
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
fn answered(e: &RedisError) -> bool {
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
        let target = match url {
            Some(url) => Target::Single(redis::Client::open(url)?),
            None => Target::Cluster(
                ClusterClientBuilder::new(cluster.iter().map(String::as_str))
                    .connection_timeout(connect_timeout.min(timeout))
                    .response_timeout(timeout)
                    // The client's own defaults retry 16 times with waits of
                    // seconds: one quick retry (MOVED, ASK, a reconnect) at most.
                    .retries(1)
                    .min_retry_wait(1)
                    .max_retry_wait(5)
                    .build()?,
            ),
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
            Target::Cluster(c) => Conn::Cluster(Box::new(c.get_connection()?)),
        })
    }

    /// Runs `f` on a connection of this process, before `deadline`.
    pub(crate) fn with<T>(
        &self,
        deadline: Instant,
        round_trips: &std::sync::atomic::AtomicU64,
        f: impl FnOnce(&mut Session<'_>) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut conn = match self.take() {
            Some(c) => c,
            None => self.connect(deadline)?,
        };
        let mut session = Session {
            conn: &mut conn,
            deadline,
            round_trips,
        };
        let out = f(&mut session);
        match &out {
            Ok(_) => self.give_back(conn),
            Err(e) if keeps_connection(e) => self.give_back(conn),
            Err(_) => {}
        }
        out
    }
}

/// A connection for the length of one operation.
pub(crate) struct Session<'a> {
    conn: &'a mut Conn,
    deadline: Instant,
    round_trips: &'a std::sync::atomic::AtomicU64,
}

impl Session<'_> {
    /// Sets the socket timeouts to what is left of the deadline.
    fn arm(&mut self) -> RedisResult<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        self.round_trips
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.conn {
            Conn::Single(c) => {
                c.set_read_timeout(Some(left))?;
                c.set_write_timeout(Some(left))
            }
            Conn::Cluster(c) => {
                c.set_read_timeout(Some(left))?;
                c.set_write_timeout(Some(left))
            }
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
    /// On one server: one round trip. On a cluster: one command after the
    /// other, each routed by the cluster client, which follows `MOVED`
    /// (refreshing its slot map), `ASK`, `TRYAGAIN` and `READONLY`; its
    /// pipeline does not (redis 1.8 hands those back as failures of the whole
    /// pipeline, losing the other commands' replies), and a slot map gone
    /// stale in a failover would then fail every later call.
    pub(crate) fn pipeline_each(&mut self, cmds: &[Cmd]) -> RedisResult<Vec<RedisResult<Value>>> {
        self.arm()?;
        match self.conn {
            Conn::Single(c) => {
                let mut p = redis::pipe();
                for cmd in cmds {
                    p.add_command(cmd.clone());
                }
                p.ignore_errors().query(c)
            }
            Conn::Cluster(_) => {
                let mut out = Vec::with_capacity(cmds.len());
                for (i, cmd) in cmds.iter().enumerate() {
                    if i > 0 {
                        self.arm()?;
                    }
                    let Conn::Cluster(c) = &mut *self.conn else {
                        unreachable!()
                    };
                    match cmd.query(&mut **c) {
                        Err(e) if answered(&e) => out.push(Err(e)),
                        other => out.push(Ok(other?)),
                    }
                }
                Ok(out)
            }
        }
    }

    /// One command, one round trip (routed by the cluster client).
    pub(crate) fn query(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        self.arm()?;
        match self.conn {
            Conn::Single(c) => cmd.query(c),
            Conn::Cluster(c) => cmd.query(&mut **c),
        }
    }
}
