//! Redis Cluster, routed here over plain connections (one per node) rather
//! than by the redis crate's cluster client, for two reasons: that client
//! retries a command that timed out on the same connection and pings every
//! node when it refreshes its slot map, each wait bounded only by its own
//! timeouts, so a call on a frozen node took two deadlines and more; and its
//! pipeline hands `MOVED`/`ASK` back as a failure of the whole pipeline.
//!
//! Here the commands of one call are grouped by the node that serves their
//! hash slot and pipelined, one pipeline per node, all sent before any reply
//! is read (one round trip when every node answers at once). A reply
//! `MOVED` updates the slot map and sends the command to the node named;
//! `ASK` sends it there after `ASKING`; `TRYAGAIN`, `CLUSTERDOWN`,
//! `MASTERDOWN` and `LOADING` send it again after a short wait; `READONLY`
//! (a primary turned replica) reads the slot map again first. Every wait is
//! armed with what is left of the call's one deadline. A node that does not
//! answer fails the call (its connection is dropped) and makes the next call
//! read the slot map again (`CLUSTER SLOTS`), asking nodes that did not fail
//! first, so that a replica that took over is found.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{
    Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, RedisError, RedisResult, ServerErrorKind, Value,
};

/// Hash slots of a Redis Cluster.
const SLOTS: usize = 16384;
/// Redirections and waits followed per command within one call.
const MAX_HOPS: usize = 6;
/// The wait before a command refused with `TRYAGAIN` and the like goes again.
const RETRY_WAIT: Duration = Duration::from_millis(5);

type Node = (String, u16);

/// Which primary serves each hash slot.
#[derive(Debug)]
struct SlotMap {
    nodes: Vec<Node>,
    /// An index into `nodes` per slot; `u16::MAX` where no node serves it.
    owner: Box<[u16]>,
}

impl SlotMap {
    fn node_of(&self, slot: u16) -> Option<&Node> {
        self.nodes.get(usize::from(self.owner[usize::from(slot)]))
    }

    /// The nodes that serve at least one slot.
    fn primaries(&self) -> Vec<Node> {
        let mut used = vec![false; self.nodes.len()];
        for &o in self.owner.iter() {
            if let Some(u) = used.get_mut(usize::from(o)) {
                *u = true;
            }
        }
        self.nodes
            .iter()
            .zip(used)
            .filter(|(_, u)| *u)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The map with `slot` served by `node` (after a `MOVED`).
    fn moved(&self, slot: u16, node: &Node) -> SlotMap {
        let mut nodes = self.nodes.clone();
        let at = match nodes.iter().position(|n| n == node) {
            Some(at) => at,
            None => {
                nodes.push(node.clone());
                nodes.len() - 1
            }
        };
        let mut owner = self.owner.clone();
        owner[usize::from(slot)] = at as u16;
        SlotMap { nodes, owner }
    }

    /// Parses `CLUSTER SLOTS` (an empty host means the node asked).
    fn parse(v: Value, asked: &Node) -> Option<SlotMap> {
        let Value::Array(ranges) = v else { return None };
        let mut map = SlotMap {
            nodes: Vec::new(),
            owner: vec![u16::MAX; SLOTS].into_boxed_slice(),
        };
        for range in ranges {
            let Value::Array(items) = range else {
                return None;
            };
            let int = |v: &Value| match v {
                Value::Int(i) => usize::try_from(*i).ok(),
                _ => None,
            };
            let (start, end) = (int(items.first()?)?, int(items.get(1)?)?);
            let Value::Array(primary) = items.get(2)? else {
                return None;
            };
            let host = match primary.first()? {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::SimpleString(s) => s.clone(),
                _ => return None,
            };
            let host = if host.is_empty() || host == "?" {
                asked.0.clone()
            } else {
                host
            };
            let node = (host, u16::try_from(int(primary.get(1)?)?).ok()?);
            let at = match map.nodes.iter().position(|n| *n == node) {
                Some(at) => at,
                None => {
                    map.nodes.push(node);
                    map.nodes.len() - 1
                }
            };
            for slot in start..=end.min(SLOTS - 1) {
                map.owner[slot] = at as u16;
            }
        }
        (!map.nodes.is_empty()).then_some(map)
    }
}

/// A cluster's seeds, and what this process knows of its slots.
pub(crate) struct Cluster {
    /// The seeds' connection settings (the first one's serve every node).
    seeds: Vec<ConnectionInfo>,
    connect_timeout: Duration,
    map: Mutex<Option<Arc<SlotMap>>>,
    /// Whether the map is to be read again before the next command.
    stale: AtomicBool,
    /// Nodes that failed to answer since the map was last read: asked last.
    suspects: Mutex<Vec<Node>>,
    next: AtomicUsize,
}

/// One connection per node, for the length of a pooled connection.
#[derive(Default)]
pub(crate) struct Links {
    nodes: HashMap<Node, redis::Connection>,
}

/// A call that failed without an answer: the error, and the index of the
/// command that got none (when one did).
pub(crate) struct Failed {
    pub(crate) error: RedisError,
    pub(crate) at: Option<usize>,
}

impl From<RedisError> for Failed {
    fn from(error: RedisError) -> Failed {
        Failed { error, at: None }
    }
}

fn node_of_info(info: &ConnectionInfo) -> Option<Node> {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            Some((host.clone(), *port))
        }
        _ => None,
    }
}

/// What `MOVED`/`ASK` name: `host:port` (an empty host: the node that said it).
fn parse_node(addr: &str, from: &Node) -> Option<Node> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = if host.is_empty() {
        from.0.as_str()
    } else {
        host
    };
    Some((host.to_string(), port.parse().ok()?))
}

fn left(deadline: Instant) -> RedisResult<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(super::conn::timed_out())
    } else {
        Ok(left)
    }
}

/// Where a command goes next.
enum Hop {
    /// To the node serving its slot.
    Slot,
    /// To this node (after `MOVED`).
    To(Node),
    /// To this node, after `ASKING`.
    Ask(Node),
}

impl Cluster {
    pub(crate) fn new(seeds: Vec<ConnectionInfo>, connect_timeout: Duration) -> Cluster {
        Cluster {
            seeds,
            connect_timeout,
            map: Mutex::new(None),
            stale: AtomicBool::new(true),
            suspects: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        }
    }

    fn info_for(&self, node: &Node) -> ConnectionInfo {
        let seed = self.seeds[0].clone();
        let addr = match seed.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: node.0.clone(),
                port: node.1,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(node.0.clone(), node.1),
        };
        seed.set_addr(addr)
    }

    /// `node` failed to answer: drop its connection, read the map again
    /// before the next command, and ask it last.
    fn suspect(&self, links: &mut Links, node: &Node) {
        links.nodes.remove(node);
        self.stale.store(true, Relaxed);
        let mut s = self.suspects.lock();
        if !s.contains(node) {
            s.push(node.clone());
        }
    }

    fn link<'l>(
        &self,
        links: &'l mut Links,
        node: &Node,
        deadline: Instant,
    ) -> RedisResult<&'l mut redis::Connection> {
        if !links.nodes.contains_key(node) {
            let wait = self.connect_timeout.min(left(deadline)?);
            let conn =
                redis::Client::open(self.info_for(node))?.get_connection_with_timeout(wait)?;
            links.nodes.insert(node.clone(), conn);
        }
        Ok(links.nodes.get_mut(node).expect("just inserted"))
    }

    /// `CLUSTER SLOTS` from `node`, within half of what is left (so that a
    /// node that does not answer leaves time to ask another).
    fn ask_slots(
        &self,
        links: &mut Links,
        node: &Node,
        deadline: Instant,
        trips: &AtomicU64,
    ) -> RedisResult<SlotMap> {
        let conn = self.link(links, node, deadline)?;
        let wait = (left(deadline)? / 2).max(Duration::from_millis(1));
        conn.set_read_timeout(Some(wait))?;
        conn.set_write_timeout(Some(wait))?;
        trips.fetch_add(1, Relaxed);
        let v = redis::cmd("CLUSTER").arg("SLOTS").query::<Value>(conn)?;
        SlotMap::parse(v, node)
            .ok_or_else(|| RedisError::from((ErrorKind::Client, "CLUSTER SLOTS gave no slot map")))
    }

    /// The slot map, read again first when it is stale.
    fn map(
        &self,
        links: &mut Links,
        deadline: Instant,
        trips: &AtomicU64,
    ) -> RedisResult<Arc<SlotMap>> {
        if !self.stale.load(Relaxed) {
            if let Some(m) = self.map.lock().clone() {
                return Ok(m);
            }
        }
        // The nodes the map knows, then the seeds, from the next in turn;
        // the suspects last.
        let mut ask: Vec<Node> = self
            .map
            .lock()
            .as_ref()
            .map(|m| m.primaries())
            .unwrap_or_default();
        for seed in self.seeds.iter().filter_map(node_of_info) {
            if !ask.contains(&seed) {
                ask.push(seed);
            }
        }
        let turn = self.next.fetch_add(1, Relaxed) % ask.len().max(1);
        ask.rotate_left(turn);
        let suspects = self.suspects.lock().clone();
        ask.sort_by_key(|n| suspects.contains(n));
        let mut last = None;
        for node in ask {
            if left(deadline).is_err() {
                break;
            }
            match self.ask_slots(links, &node, deadline, trips) {
                Ok(map) => {
                    let map = Arc::new(map);
                    *self.map.lock() = Some(map.clone());
                    self.stale.store(false, Relaxed);
                    self.suspects.lock().clear();
                    return Ok(map);
                }
                Err(e) => {
                    links.nodes.remove(&node);
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(super::conn::timed_out))
    }

    /// Sends `cmds` (keyed by `key_of`, slot by `slot`), grouped by node and
    /// pipelined; each command's reply, or the error Redis answered it with.
    pub(crate) fn pipeline(
        &self,
        links: &mut Links,
        cmds: &[Cmd],
        slot_of: &dyn Fn(&Cmd) -> Option<u16>,
        deadline: Instant,
        trips: &AtomicU64,
    ) -> Result<Vec<RedisResult<Value>>, Failed> {
        let mut out: Vec<Option<RedisResult<Value>>> = (0..cmds.len()).map(|_| None).collect();
        let mut todo: Vec<(usize, Hop)> = (0..cmds.len()).map(|i| (i, Hop::Slot)).collect();
        for _ in 0..MAX_HOPS {
            if todo.is_empty() {
                break;
            }
            let map = self.map(links, deadline, trips)?;
            // (node, [(command, after ASKING)])
            let mut groups: Vec<(Node, Vec<(usize, bool)>)> = Vec::new();
            for (i, hop) in todo.drain(..) {
                let (node, asking) = match hop {
                    Hop::Slot => {
                        let node =
                            map.node_of(slot_of(&cmds[i]).unwrap_or(0)).ok_or_else(|| {
                                RedisError::from((ErrorKind::Client, "no node serves the slot"))
                            })?;
                        (node.clone(), false)
                    }
                    Hop::To(node) => (node, false),
                    Hop::Ask(node) => (node, true),
                };
                match groups.iter_mut().find(|(n, _)| *n == node) {
                    Some((_, items)) => items.push((i, asking)),
                    None => groups.push((node, vec![(i, asking)])),
                }
            }
            // Everything goes out before any reply is read.
            for (node, items) in &groups {
                let sent = (|| -> RedisResult<()> {
                    let conn = self.link(links, node, deadline)?;
                    conn.set_write_timeout(Some(left(deadline)?))?;
                    let mut bytes = Vec::new();
                    for &(i, asking) in items {
                        if asking {
                            bytes.extend(redis::cmd("ASKING").get_packed_command());
                        }
                        bytes.extend(cmds[i].get_packed_command());
                    }
                    trips.fetch_add(1, Relaxed);
                    conn.send_packed_command(&bytes)
                })();
                if let Err(error) = sent {
                    self.suspect(links, node);
                    return Err(Failed {
                        error,
                        at: Some(items[0].0),
                    });
                }
            }
            let mut wait = false;
            for (node, items) in &groups {
                let mut replies = items
                    .iter()
                    .map(|&(_, a)| 1 + usize::from(a))
                    .sum::<usize>();
                for &(i, asking) in items {
                    let mut next = || -> RedisResult<Value> {
                        let conn = links.nodes.get_mut(node).expect("linked above");
                        let each = left(deadline)? / u32::try_from(replies).unwrap_or(u32::MAX);
                        conn.set_read_timeout(Some(each.max(Duration::from_millis(1))))?;
                        replies -= 1;
                        conn.recv_response()?.extract_error()
                    };
                    let reply = match asking {
                        true => next().and_then(|_| next()),
                        false => next(),
                    };
                    let e = match reply {
                        Ok(v) => {
                            out[i] = Some(Ok(v));
                            continue;
                        }
                        Err(e) => e,
                    };
                    if !super::conn::answered(&e) {
                        self.suspect(links, node);
                        return Err(Failed {
                            error: e,
                            at: Some(i),
                        });
                    }
                    match e.kind() {
                        ErrorKind::Server(ServerErrorKind::Moved) => {
                            let Some((to, slot)) = e
                                .redirect_node()
                                .and_then(|(a, s)| Some((parse_node(a, node)?, s)))
                            else {
                                out[i] = Some(Err(e));
                                continue;
                            };
                            let mut m = self.map.lock();
                            if let Some(cur) = m.as_ref() {
                                *m = Some(Arc::new(cur.moved(slot, &to)));
                            }
                            todo.push((i, Hop::To(to)));
                        }
                        ErrorKind::Server(ServerErrorKind::Ask) => {
                            match e.redirect_node().and_then(|(a, _)| parse_node(a, node)) {
                                Some(to) => todo.push((i, Hop::Ask(to))),
                                None => out[i] = Some(Err(e)),
                            }
                        }
                        ErrorKind::Server(
                            ServerErrorKind::TryAgain
                            | ServerErrorKind::ClusterDown
                            | ServerErrorKind::MasterDown
                            | ServerErrorKind::BusyLoading,
                        ) => {
                            wait = true;
                            todo.push((i, Hop::Slot));
                        }
                        ErrorKind::Server(ServerErrorKind::ReadOnly) => {
                            self.stale.store(true, Relaxed);
                            todo.push((i, Hop::Slot));
                        }
                        _ => out[i] = Some(Err(e)),
                    }
                }
            }
            if wait && !todo.is_empty() {
                std::thread::sleep(RETRY_WAIT.min(left(deadline)?));
            }
        }
        if !todo.is_empty() {
            return Err(Failed {
                error: RedisError::from((ErrorKind::Client, "too many cluster redirections")),
                at: todo.first().map(|(i, _)| *i),
            });
        }
        Ok(out
            .into_iter()
            .map(|o| o.expect("every command has its reply"))
            .collect())
    }

    /// `cmd` (a keyless one, such as `INFO`) on every primary: their replies.
    pub(crate) fn on_every_primary(
        &self,
        links: &mut Links,
        cmd: &Cmd,
        deadline: Instant,
        trips: &AtomicU64,
    ) -> Result<Value, Failed> {
        let map = self.map(links, deadline, trips)?;
        let mut all = Vec::new();
        for node in map.primaries() {
            let reply = (|| -> RedisResult<Value> {
                let conn = self.link(links, &node, deadline)?;
                let wait = left(deadline)?;
                conn.set_read_timeout(Some(wait))?;
                conn.set_write_timeout(Some(wait))?;
                trips.fetch_add(1, Relaxed);
                cmd.query(conn)
            })();
            match reply {
                Ok(v) => all.push(v),
                Err(e) if super::conn::answered(&e) => return Err(e.into()),
                Err(e) => {
                    self.suspect(links, &node);
                    return Err(e.into());
                }
            }
        }
        Ok(Value::Array(all))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_map_from_cluster_slots_and_moved() {
        let node = |h: &str, p: i64| {
            Value::Array(vec![
                Value::BulkString(h.as_bytes().to_vec()),
                Value::Int(p),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let v = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(8191),
                node("10.0.0.1", 7000),
            ]),
            Value::Array(vec![Value::Int(8192), Value::Int(16383), node("", 7001)]),
        ]);
        let asked = ("10.0.0.9".to_string(), 7001);
        let map = SlotMap::parse(v, &asked).unwrap();
        assert_eq!(map.node_of(0), Some(&("10.0.0.1".to_string(), 7000)));
        assert_eq!(map.node_of(16383), Some(&asked));
        let to = ("10.0.0.2".to_string(), 7002);
        let moved = map.moved(5, &to);
        assert_eq!(moved.node_of(5), Some(&to));
        assert_eq!(moved.node_of(6), map.node_of(6));
        assert_eq!(moved.primaries().len(), 3);
        assert_eq!(parse_node(":7003", &asked), Some(("10.0.0.9".into(), 7003)));
        assert!(SlotMap::parse(Value::Array(vec![]), &asked).is_none());
    }
}
