//! Support staff's commands against a shared or redis store: see and lift a block.

use loginguard::{Attempt, Decision, Guard, Inspection, Policy, SiteState, StoreKind};
use serde_json::{json, Value};

/// `--policy FILE`, `--account A`, `--ip IP`, `--device D`, `--json` and positionals.
#[derive(Default)]
pub struct Args {
    policy: Option<String>,
    account: Option<String>,
    ip: Option<String>,
    device: Option<String>,
    json: bool,
    prometheus: bool,
    positional: Vec<String>,
}

impl Args {
    pub fn parse(args: &[String]) -> Result<Args, String> {
        let mut a = Args::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--policy" => a.policy = Some(value()?),
                "--account" => a.account = Some(value()?),
                "--ip" => a.ip = Some(value()?),
                "--device" => a.device = Some(value()?),
                "--json" => a.json = true,
                "--prometheus" => a.prometheus = true,
                s if s.starts_with("--") => return Err(format!("unknown option {s}")),
                _ => a.positional.push(arg.clone()),
            }
        }
        Ok(a)
    }

    /// A guard on the shared or redis store the policy file names.
    fn guard(&self) -> Result<Guard, String> {
        let path = self
            .policy
            .as_deref()
            .ok_or("--policy FILE is required (the policy naming the shared or redis store)")?;
        let policy = Policy::from_file(path).map_err(|e| e.to_string())?;
        if policy.store.kind == StoreKind::Memory {
            return Err(format!(
                "{path}: the store is `memory`, which lives only inside one process; admin commands need [store] kind = \"shared\" or \"redis\""
            ));
        }
        Guard::new(policy).map_err(|e| e.to_string())
    }

    fn attempt(&self) -> Attempt<'_> {
        let mut a = Attempt::new();
        if let Some(v) = &self.account {
            a = a.account(v);
        }
        if let Some(v) = &self.ip {
            a = a.ip(v);
        }
        if let Some(v) = &self.device {
            a = a.device(v.as_str());
        }
        a
    }

    fn one_positional(&self, what: &str) -> Result<&str, String> {
        match self.positional.as_slice() {
            [one] => Ok(one),
            _ => Err(format!("expected one {what}")),
        }
    }
}

fn decision_json(d: &Decision) -> Value {
    json!({
        "action": d.action.as_str(),
        "reason": d.reason.map(|r| r.as_str()),
        "retry_after_ms": d.retry_after_ms,
        "failures": d.failures,
        "degraded": d.degraded,
    })
}

pub fn inspect(args: &[String]) -> Result<(), String> {
    let a = Args::parse(args)?;
    let guard = a.guard()?;
    let i: Inspection = guard.inspect(&a.attempt()).map_err(|e| e.to_string())?;
    if a.json {
        let dims: Vec<Value> = i
            .dimensions
            .iter()
            .map(|d| {
                json!({
                    "dimension": d.dimension.as_str(),
                    "tracked": d.tracked,
                    "failures": d.failures,
                    "consecutive": d.consecutive,
                    "locked_until_ms": d.locked_until_ms,
                    "reset_required": d.reset_required,
                    "action": d.action.as_str(),
                })
            })
            .collect();
        let out = json!({
            "decision": decision_json(&i.decision),
            "denylisted": i.denylisted,
            "dimensions": dims,
            "site": i.site.as_ref().map(site_json),
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "decision: {}{}",
        i.decision,
        if i.denylisted {
            " (network on the deny list)"
        } else {
            ""
        }
    );
    let now = guard.now_ms();
    for d in &i.dimensions {
        let lock = d.locked_until_ms.map_or(String::new(), |t| {
            format!(", locked for {} s more", (t - now).div_ceil(1000))
        });
        println!(
            "  {:<11} {:<15} failures {:>5}, consecutive {:>5}{}{}",
            d.dimension.as_str(),
            d.action.as_str(),
            d.failures,
            d.consecutive,
            lock,
            if d.reset_required {
                ", needs a password reset"
            } else {
                ""
            }
        );
    }
    if let Some(s) = &i.site {
        println!("  {}", site_line(s));
    }
    Ok(())
}

fn site_json(s: &SiteState) -> Value {
    json!({
        "rate": s.rate,
        "trigger": s.trigger,
        "per_ms": s.per_ms,
        "active": s.active,
        "since_ms": s.since_ms,
    })
}

/// The site-wide signal in one line: `site        attack      12 failures in 60 s (trigger 10) since ...`.
fn site_line(s: &SiteState) -> String {
    format!(
        "{:<11} {:<15} {} failures in the last {} s (trigger {}){}",
        "site",
        if s.active { "attack" } else { "calm" },
        s.rate,
        s.per_ms / 1000,
        s.trigger,
        s.since_ms
            .map_or(String::new(), |t| format!(", attack since {t} ms")),
    )
}

pub fn record_failure(args: &[String]) -> Result<(), String> {
    let a = Args::parse(args)?;
    let guard = a.guard()?;
    let d = guard
        .record_failure(&a.attempt())
        .map_err(|e| e.to_string())?;
    if a.json {
        println!("{}", decision_json(&d));
    } else {
        println!("{d}");
    }
    Ok(())
}

pub fn reset_account(args: &[String]) -> Result<(), String> {
    let a = Args::parse(args)?;
    let account = a.one_positional("account")?;
    a.guard()?
        .reset_account(account)
        .map_err(|e| e.to_string())?;
    if a.json {
        println!("{}", json!({ "reset_account": account }));
    } else {
        println!("cleared every counter of account {account:?}");
    }
    Ok(())
}

pub fn reset_ip(args: &[String]) -> Result<(), String> {
    let a = Args::parse(args)?;
    let ip = a.one_positional("IP")?;
    a.guard()?.reset_ip(ip).map_err(|e| e.to_string())?;
    if a.json {
        println!("{}", json!({ "reset_ip": ip }));
    } else {
        println!("cleared the counter of network {ip}");
    }
    Ok(())
}

pub fn stats(args: &[String]) -> Result<(), String> {
    let a = Args::parse(args)?;
    let s = a.guard()?.stats();
    if a.prometheus {
        print!("{}", crate::metrics::exposition(&s)?);
    } else if a.json {
        let redis = s.redis.map(|r| {
            json!({
                "round_trips": r.round_trips,
                "errors": r.errors,
                "degraded": r.degraded,
                "cas_retries": r.cas_retries,
                "cas_exhausted": r.cas_exhausted,
                "lock_cache_hits": r.lock_cache_hits,
                "meta_healed": r.meta_healed,
                "meta_mismatches": r.meta_mismatches,
                "policy_mismatches": r.policy_mismatches,
                "circuit_open": r.circuit_open,
                "evicted_keys": r.evicted_keys,
                "may_evict_counters": r.may_evict_counters,
                "used_memory": r.used_memory,
            })
        });
        let out = json!({
            "capacity": s.capacity,
            "occupancy": s.occupancy,
            "evictions": s.evictions,
            "refused_inserts": s.refused_inserts,
            "memory_bytes": s.memory_bytes,
            "decisions": {
                "allow": s.allow,
                "challenge": s.challenge,
                "deny": s.deny,
                "reset_required": s.reset_required,
            },
            "site": s.site.as_ref().map(site_json),
            "redis": redis,
        });
        println!("{out}");
    } else {
        println!("{s}");
    }
    Ok(())
}
