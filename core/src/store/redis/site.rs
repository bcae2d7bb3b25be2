//! The site-wide window on Redis: one hash, `{prefix}:{site}` (its own hash
//! slot on a cluster), shared by every host. `site.lua` is its storage
//! primitive: it counts a failure in its step (restarting a field that
//! holds an older step, as `SiteWindow::record` does a word) and in its
//! hour, and returns the window's words; it takes failures back; and it
//! sets or clears the attack state only when it still is what the caller
//! read (so that exactly one host starts and ends each attack). The rate,
//! the trigger, the learned baseline and when an attack starts or ends are
//! computed in the library (`site.rs`), on a copy of the words.
//!
//! | field            | holds                                       |
//! |------------------|---------------------------------------------|
//! | `s0` … `s59`     | a step: `<step index>:<failures>`           |
//! | `h0` … `h24`     | an hour (`baseline = "auto"`): `<hour>:<n>` |
//! | `hot`            | the running attack's last hot step          |
//! | `since`          | when it started (the store's ms)            |
//!
//! The hours take 25 fields (hour `h` in `h<h % 25>`), so that counting the
//! current hour never replaces one of the 24 complete hours before it, which
//! the learned baseline sums (the table stores' window keeps that sum
//! cached per hour instead).
//!
//! Every write renews the key's TTL: two windows and `calm_for` (a day and
//! an hour more with `baseline = "auto"`).

use redis::{Cmd, RedisResult, Value};

use super::{bytes_of, is_noscript, script_cmd, RedisStore, Session};
use crate::site::{SiteRuleMs, SiteWindow, STEPS, STEP_CAP};

/// Hour fields: the current hour and the 24 complete ones before it.
const HOUR_FIELDS: usize = 25;

/// One operation of `site.lua`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SiteOp {
    /// One failure at `now`.
    Add,
    /// This many failures off `now`'s step.
    Back(u64),
    /// Starts an attack (hot step, start) unless one is on.
    Start(u64, u64),
    /// A later hot step for the running attack.
    Raise(u64),
    /// Ends the attack whose hot step is this one.
    End(u64),
}

/// What `site.lua`'s `end` answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// This call ended it.
    Done,
    /// Another host did, or changed its hot step to this one.
    Not(Option<u64>),
}

impl RedisStore {
    /// The `EVALSHA` (or `EVAL`) of `op` at `now`.
    pub(crate) fn site_cmd(&self, rule: &SiteRuleMs, now: u64, op: SiteOp, by_body: bool) -> Cmd {
        let mut c = script_cmd(&self.site, by_body);
        c.arg(1).arg(&self.site_key);
        let (name, n) = match op {
            SiteOp::Add => ("add", STEP_CAP),
            SiteOp::Back(n) => ("back", n),
            SiteOp::Start(hot, since) => {
                c.arg("start").arg(rule.ttl_ms().max(1)).arg(hot).arg(since);
                return c;
            }
            SiteOp::Raise(hot) => {
                c.arg("raise").arg(rule.ttl_ms().max(1)).arg(hot);
                return c;
            }
            SiteOp::End(hot) => {
                c.arg("end").arg(rule.ttl_ms().max(1)).arg(hot);
                return c;
            }
        };
        let (k, h) = rule.step_and_hour(now);
        c.arg(name)
            .arg(rule.ttl_ms().max(1))
            .arg(k)
            .arg(k % STEPS as u64)
            .arg(h)
            .arg(h % HOUR_FIELDS as u64)
            .arg(if rule.learns() { "1" } else { "0" })
            .arg(n);
        c
    }

    /// `HGETALL` of the site key.
    pub(crate) fn site_read_cmd(&self) -> Cmd {
        redis::cmd("HGETALL").arg(&self.site_key).clone()
    }

    /// Runs one `site.lua` operation (one round trip; two after `NOSCRIPT`).
    pub(crate) fn site_call(
        &self,
        s: &mut Session<'_>,
        rule: &SiteRuleMs,
        now: u64,
        op: SiteOp,
    ) -> RedisResult<Value> {
        match s.query(&self.site_cmd(rule, now, op, false)) {
            Err(e) if is_noscript(&e) => s.query(&self.site_cmd(rule, now, op, true)),
            other => other,
        }
    }
}

/// Whether an attack was started by this call (`start`'s reply).
pub(crate) fn started(v: &Value) -> bool {
    matches!(v, Value::Int(1))
}

/// `end`'s reply.
pub(crate) fn ended(v: Value) -> RedisResult<Ended> {
    if matches!(v, Value::Int(1)) {
        return Ok(Ended::Done);
    }
    let now = bytes_of(v)?.and_then(|b| std::str::from_utf8(&b).ok()?.parse().ok());
    Ok(Ended::Not(now))
}

/// The window an `HGETALL` of the site key returned.
pub(crate) fn window(v: Value) -> RedisResult<SiteWindow> {
    let mut steps = [(0u64, 0u64); STEPS];
    let mut hours = [(0u64, 0u64); HOUR_FIELDS];
    let (mut hot, mut since) = (None, None);
    let mut field = |name: &[u8], value: &[u8]| {
        let text = std::str::from_utf8(value).unwrap_or("");
        let number = || text.parse::<u64>().ok();
        match name {
            b"hot" => hot = number(),
            b"since" => since = number(),
            _ => {
                let Some((i, c)) = text.split_once(':') else {
                    return;
                };
                let (Ok(i), Ok(c)) = (i.parse::<u64>(), c.parse::<u64>()) else {
                    return;
                };
                let at = std::str::from_utf8(&name[1.min(name.len())..])
                    .ok()
                    .and_then(|a| a.parse::<usize>().ok());
                let place = match (name.first(), at) {
                    (Some(b's'), Some(at)) => steps.get_mut(at),
                    (Some(b'h'), Some(at)) => hours.get_mut(at),
                    _ => None,
                };
                if let Some(p) = place {
                    *p = (i, c);
                }
            }
        }
    };
    match v {
        Value::Nil => {}
        Value::Array(items) => {
            let mut it = items.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                if let (Some(k), Some(v)) = (bytes_of(k)?, bytes_of(v)?) {
                    field(&k, &v);
                }
            }
        }
        Value::Map(pairs) => {
            for (k, v) in pairs {
                if let (Some(k), Some(v)) = (bytes_of(k)?, bytes_of(v)?) {
                    field(&k, &v);
                }
            }
        }
        other => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "unexpected reply",
                format!("{other:?}"),
            )))
        }
    }
    Ok(SiteWindow::from_words(
        &steps,
        &hours,
        hot.map(|h| (h, since.unwrap_or(0))),
    ))
}

/// `add`'s reply: the window after the failure, and the step it replaced
/// (index, count), if it replaced one.
pub(crate) fn added(v: Value) -> RedisResult<(SiteWindow, Option<(u64, u64)>)> {
    let Value::Array(items) = v else {
        return Err(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "unexpected reply to the site window's add",
        )));
    };
    let mut it = items.into_iter();
    let lost = bytes_of(it.next().unwrap_or(Value::Nil))?.and_then(|b| {
        let (i, c) = std::str::from_utf8(&b).ok()?.split_once(':')?;
        Some((i.parse().ok()?, c.parse().ok()?))
    });
    Ok((window(it.next().unwrap_or(Value::Nil))?, lost))
}
