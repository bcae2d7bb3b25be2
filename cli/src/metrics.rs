//! `stats --prometheus`: a guard's statistics in the OpenMetrics text format,
//! under the same names as the Python and Node collectors.

use loginguard::Stats;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, unit: Option<Unit>, value: u64) {
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    match unit {
        Some(unit) => registry.register_with_unit(name, help, unit, g),
        None => registry.register(name, help, g),
    }
}

/// The exposition text of `stats`, ending with `# EOF`.
pub fn exposition(s: &Stats) -> Result<String, String> {
    let mut registry = Registry::with_prefix("loginguard");
    let decisions = Family::<Vec<(&'static str, &'static str)>, Counter>::default();
    for (action, n) in [
        ("allow", s.allow),
        ("challenge", s.challenge),
        ("deny", s.deny),
        ("reset_required", s.reset_required),
    ] {
        decisions.get_or_create(&vec![("action", action)]).inc_by(n);
    }
    registry.register(
        "decisions",
        "Decisions given by check, begin and record_failure, by action",
        decisions,
    );
    let r = &mut registry;
    gauge(
        r,
        "tracked_keys",
        "Counters (keys) held in the store now",
        None,
        s.occupancy as u64,
    );
    gauge(
        r,
        "capacity_keys",
        "Counters the store can hold",
        None,
        s.capacity as u64,
    );
    counter(
        r,
        "evictions",
        "Keys evicted to make room for others",
        s.evictions,
    );
    counter(
        r,
        "refused_inserts",
        "New keys not stored because every candidate slot was protected",
        s.refused_inserts,
    );
    gauge(
        r,
        "memory",
        "Memory the counters occupy plus the guard itself",
        Some(Unit::Bytes),
        s.memory_bytes as u64,
    );
    if let Some(site) = &s.site {
        let r = registry.sub_registry_with_prefix("site");
        gauge(
            r,
            "attack",
            "1 while a site-wide attack is on (every untrusted attempt is challenged)",
            None,
            u64::from(site.active),
        );
        gauge(
            r,
            "failures",
            "Failures across every key within the site-wide window",
            None,
            site.rate,
        );
        gauge(
            r,
            "trigger_failures",
            "The site-wide rate above which an attack starts",
            None,
            site.trigger,
        );
    }
    if let Some(redis) = &s.redis {
        let r = registry.sub_registry_with_prefix("redis");
        counter(
            r,
            "round_trips",
            "Round trips to Redis (a pipeline counts once)",
            redis.round_trips,
        );
        counter(
            r,
            "errors",
            "Redis operations that failed or timed out",
            redis.errors,
        );
        counter(
            r,
            "degraded",
            "Decisions made by store.on_error",
            redis.degraded,
        );
        counter(
            r,
            "cas_retries",
            "Compare-and-set writes sent again after a conflict",
            redis.cas_retries,
        );
        counter(
            r,
            "cas_exhausted",
            "Operations that gave up after too many conflicts",
            redis.cas_exhausted,
        );
        counter(
            r,
            "lock_cache_hits",
            "Checks and begins answered by the local lock cache",
            redis.lock_cache_hits,
        );
        counter(
            r,
            "meta_healed",
            "Times a missing meta key was restored",
            redis.meta_healed,
        );
        counter(
            r,
            "meta_mismatches",
            "Times the meta key held another store's secret or epoch",
            redis.meta_mismatches,
        );
        gauge(
            r,
            "circuit_open",
            "1 while the circuit breaker is open",
            None,
            u64::from(redis.circuit_open),
        );
        if let Some(n) = redis.evicted_keys {
            counter(
                r,
                "evicted_keys",
                "Redis's evicted_keys (every node of a cluster)",
                n,
            );
        }
        if let Some(may) = redis.may_evict_counters {
            gauge(
                r,
                "may_evict_counters",
                "1 when maxmemory-policy can evict counters",
                None,
                u64::from(may),
            );
        }
        if let Some(bytes) = redis.used_memory {
            gauge(
                r,
                "used_memory",
                "Redis's used_memory",
                Some(Unit::Bytes),
                bytes,
            );
        }
    }
    let mut out = String::new();
    encode(&mut out, &registry).map_err(|e| format!("cannot encode the metrics: {e}"))?;
    Ok(out)
}
