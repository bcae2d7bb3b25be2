//! Differential property test: random operation sequences and clock advances
//! run through the engine and through a small reference model of the SPEC
//! written here (a plain map keyed by strings), comparing every decision.

use std::collections::BTreeMap;
use std::sync::Arc;

use loginguard::{Action, Attempt, Decision, Guard, ManualClock, Policy, Reason};
use proptest::prelude::*;

const POLICY: &str = r#"
[account]
challenge_after = 2
lock_after = 4
lock_for = "1s"
lock_growth = 1.5
lock_max = "3s"
reset_after = 7
forget_after = "30s"
[account_ip]
lock_after = 2
lock_for = "2s"
forget_after = "20s"
[ip]
challenge_after = 3
lock_after = 5
lock_for = "5s"
lock_growth = 2
lock_max = "12s"
forgive_every = "4s"
forget_after = "60s"
[device]
lock_after = 1
lock_for = "1s"
"#;

#[derive(Debug, Clone, Copy)]
struct Rule {
    forget: u64,
    forgive: Option<u64>,
    challenge: Option<u32>,
    lock_after: Option<u32>,
    lock_for: u64,
    growth: f64,
    lock_max: u64,
    reset_after: Option<u32>,
    reset_on_success: bool,
}

const RULES: [Rule; 4] = [
    Rule {
        forget: 30_000,
        forgive: None,
        challenge: Some(2),
        lock_after: Some(4),
        lock_for: 1000,
        growth: 1.5,
        lock_max: 3000,
        reset_after: Some(7),
        reset_on_success: true,
    },
    Rule {
        forget: 20_000,
        forgive: None,
        challenge: None,
        lock_after: Some(2),
        lock_for: 2000,
        growth: 2.0,
        lock_max: 3_600_000,
        reset_after: None,
        reset_on_success: true,
    },
    Rule {
        forget: 60_000,
        forgive: Some(4000),
        challenge: Some(3),
        lock_after: Some(5),
        lock_for: 5000,
        growth: 2.0,
        lock_max: 12_000,
        reset_after: None,
        reset_on_success: false,
    },
    Rule {
        forget: 900_000,
        forgive: None,
        challenge: None,
        lock_after: Some(1),
        lock_for: 1000,
        growth: 2.0,
        lock_max: 3_600_000,
        reset_after: None,
        reset_on_success: true,
    },
];

/// One key's counter, exactly as the SPEC words it.
#[derive(Debug, Clone, Default)]
struct Counter {
    count: u32,
    consecutive: u32,
    reset_required: bool,
    anchor: u64,
    last_failure: u64,
    lock_end: Option<u64>,
    locks: u32,
}

impl Counter {
    fn settle(&mut self, now: u64, r: &Rule) {
        let quiet_since = self.last_failure.max(self.lock_end.unwrap_or(0));
        if (self.count > 0 || self.locks > 0 || self.lock_end.is_some())
            && now >= quiet_since + r.forget
        {
            self.count = 0;
            self.locks = 0;
            self.lock_end = None;
        }
        if let Some(p) = r.forgive {
            while self.count > 0 && now >= self.anchor + p {
                self.count -= 1;
                self.anchor += p;
            }
        }
    }

    fn verdict(&self, now: u64, r: &Rule) -> (Action, Option<u64>, u32) {
        if self.reset_required {
            return (Action::ResetRequired, None, self.consecutive);
        }
        if let Some(end) = self.lock_end.filter(|&e| now < e) {
            return (Action::Deny, Some(end - now), self.count);
        }
        match r.challenge {
            Some(n) if self.count > n => (Action::Challenge, None, self.count),
            _ => (Action::Allow, None, self.count),
        }
    }

    fn fail(&mut self, now: u64, r: &Rule) {
        let locked = self.lock_end.is_some_and(|e| now < e);
        if self.count == 0 {
            self.anchor = now;
        }
        self.count += 1;
        self.consecutive += 1;
        self.last_failure = now;
        if r.reset_after.is_some_and(|n| self.consecutive > n) {
            self.reset_required = true;
        }
        if !locked && r.lock_after.is_some_and(|n| self.count > n) {
            let len = ((r.lock_for as f64) * r.growth.powi(self.locks as i32)).floor() as u64;
            self.lock_end = Some(now + len.min(r.lock_max));
            self.locks += 1;
        }
    }
}

/// (dimension index, (action, retry, failures))
type DimVerdict = (usize, (Action, Option<u64>, u32));

#[derive(Default)]
struct Model {
    now: u64,
    counters: BTreeMap<(usize, String), Counter>,
}

struct Keys {
    dims: Vec<(usize, String)>,
}

fn network(ip: &str) -> &str {
    match ip {
        "2001:db8::1" | "2001:db8::2" => "2001:db8::/64",
        "::ffff:203.0.113.7" => "203.0.113.7",
        other => other,
    }
}

impl Model {
    fn keys(account: &str, ip: &str, device: Option<&str>) -> Keys {
        let account = account.trim().to_lowercase();
        let net = network(ip);
        let dims = match device {
            Some(d) => vec![(3, format!("{account}|{d}"))],
            None => vec![
                (0, account.clone()),
                (1, format!("{account}|{net}")),
                (2, net.to_string()),
            ],
        };
        Keys { dims }
    }

    fn verdicts(&mut self, keys: &Keys) -> Vec<DimVerdict> {
        let now = self.now;
        keys.dims
            .iter()
            .map(|k| {
                let c = self.counters.entry(k.clone()).or_default();
                c.settle(now, &RULES[k.0]);
                (k.0, c.verdict(now, &RULES[k.0]))
            })
            .collect()
    }

    fn decide(v: &[DimVerdict]) -> Decision {
        let mut best: Option<&DimVerdict> = None;
        for x in v.iter().filter(|x| x.1 .0 != Action::Allow) {
            if best.is_none_or(|b| x.1 .0 > b.1 .0 || (x.1 .0 == b.1 .0 && x.1 .1 > b.1 .1)) {
                best = Some(x);
            }
        }
        match best {
            None => Decision::allow(v.iter().find(|x| x.0 == 0).map_or(0, |x| x.1 .2)),
            Some(&(d, (action, retry, failures))) => Decision {
                action,
                reason: Some(
                    [
                        Reason::Account,
                        Reason::AccountIp,
                        Reason::Ip,
                        Reason::Device,
                    ][d],
                ),
                retry_after_ms: retry,
                failures,
                degraded: false,
            },
        }
    }

    fn check(&mut self, k: &Keys) -> Decision {
        let v = self.verdicts(k);
        Model::decide(&v)
    }

    fn failure(&mut self, k: &Keys) -> Decision {
        let now = self.now;
        for key in &k.dims {
            let c = self.counters.entry(key.clone()).or_default();
            c.settle(now, &RULES[key.0]);
            c.fail(now, &RULES[key.0]);
        }
        self.check(k)
    }

    fn begin(&mut self, k: &Keys, passed: bool) -> Decision {
        let d = self.check(k);
        let now = self.now;
        if d.lets_password_be_checked(passed) {
            for key in &k.dims {
                self.counters.get_mut(key).unwrap().fail(now, &RULES[key.0]);
            }
        }
        d
    }

    fn success(&mut self, k: &Keys, after_begin: bool) {
        let now = self.now;
        for key in &k.dims {
            let r = &RULES[key.0];
            let Some(c) = self.counters.get_mut(key) else {
                continue;
            };
            c.settle(now, r);
            if r.reset_on_success {
                c.count = 0;
                c.locks = 0;
                c.lock_end = None;
                if !c.reset_required {
                    c.consecutive = 0;
                }
            } else if after_begin {
                c.count = c.count.saturating_sub(1);
                c.consecutive = c.consecutive.saturating_sub(1);
            }
        }
    }

    fn reset_account(&mut self, account: &str) {
        let account = account.trim().to_lowercase();
        let prefix = format!("{account}|");
        for ((d, key), c) in &mut self.counters {
            if (*d == 0 && *key == account) || ((*d == 1 || *d == 3) && key.starts_with(&prefix)) {
                *c = Counter::default();
            }
        }
    }

    fn reset_ip(&mut self, ip: &str) {
        if let Some(c) = self.counters.get_mut(&(2, network(ip).to_string())) {
            *c = Counter::default();
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Check(usize, usize, Option<usize>),
    Begin(usize, usize, Option<usize>, bool),
    Failure(usize, usize, Option<usize>),
    Success(usize, usize, Option<usize>, bool),
    ResetAccount(usize),
    ResetIp(usize),
    Advance(u64),
}

const ACCOUNTS: [&str; 3] = ["alice", " Alice", "bob"];
const IPS: [&str; 5] = [
    "203.0.113.7",
    "::ffff:203.0.113.7",
    "2001:db8::1",
    "2001:db8::2",
    "198.51.100.1",
];
const DEVICES: [&str; 2] = ["phone", "laptop"];

fn op() -> impl Strategy<Value = Op> {
    let a = 0..ACCOUNTS.len();
    let i = 0..IPS.len();
    let d = prop::option::weighted(0.15, 0..DEVICES.len());
    prop_oneof![
        2 => (a.clone(), i.clone(), d.clone()).prop_map(|(a, i, d)| Op::Check(a, i, d)),
        3 => (a.clone(), i.clone(), d.clone(), any::<bool>()).prop_map(|(a, i, d, p)| Op::Begin(a, i, d, p)),
        6 => (a.clone(), i.clone(), d.clone()).prop_map(|(a, i, d)| Op::Failure(a, i, d)),
        1 => (a.clone(), i.clone(), d, any::<bool>()).prop_map(|(a, i, d, b)| Op::Success(a, i, d, b)),
        1 => (0..ACCOUNTS.len()).prop_map(Op::ResetAccount),
        1 => (0..IPS.len()).prop_map(Op::ResetIp),
        4 => prop_oneof![Just(1u64), Just(999), Just(1000), 1..5000u64, Just(4000), Just(20_000), Just(30_000), Just(60_000)]
            .prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference_model(ops in prop::collection::vec(op(), 1..120)) {
        let clock = Arc::new(ManualClock::new());
        let mut policy = Policy::from_toml(POLICY).unwrap();
        policy.store.capacity = 4096;
        let guard = Guard::with_clock(policy, clock.clone()).unwrap();
        let mut model = Model::default();
        for (step, op) in ops.iter().enumerate() {
            let attempt = |a: usize, i: usize, d: Option<usize>| {
                let mut at = Attempt::new().account(ACCOUNTS[a]).ip(IPS[i]);
                if let Some(d) = d {
                    at = at.device(DEVICES[d]);
                }
                at
            };
            let keys = |a: usize, i: usize, d: Option<usize>| Model::keys(ACCOUNTS[a], IPS[i], d.map(|d| DEVICES[d]));
            let (got, want) = match *op {
                Op::Check(a, i, d) => (guard.check(&attempt(a, i, d)).unwrap(), model.check(&keys(a, i, d))),
                Op::Begin(a, i, d, p) => (guard.begin(&attempt(a, i, d), p).unwrap(), model.begin(&keys(a, i, d), p)),
                Op::Failure(a, i, d) => (guard.record_failure(&attempt(a, i, d)).unwrap(), model.failure(&keys(a, i, d))),
                Op::Success(a, i, d, b) => {
                    guard.record_success(&attempt(a, i, d), b).unwrap();
                    model.success(&keys(a, i, d), b);
                    continue;
                }
                Op::ResetAccount(a) => {
                    guard.reset_account(ACCOUNTS[a]).unwrap();
                    model.reset_account(ACCOUNTS[a]);
                    continue;
                }
                Op::ResetIp(i) => {
                    guard.reset_ip(IPS[i]).unwrap();
                    model.reset_ip(IPS[i]);
                    continue;
                }
                Op::Advance(ms) => {
                    clock.advance_ms(ms);
                    model.now += ms;
                    continue;
                }
            };
            prop_assert_eq!(got, want, "step {} {:?} at t={}", step, op, model.now);
        }
    }
}
