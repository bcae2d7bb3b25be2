//! A login storm on a simulated clock. Every number printed comes from the
//! engine's decisions: change the policy and the story changes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use loginguard::{
    Action, Attempt, Clock, Decision, EventKind, Guard, ManualClock, Policy, SystemClock,
};

pub struct Options {
    policy: Option<String>,
    minutes: u64,
    users: usize,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            policy: None,
            minutes: 60,
            users: 2000,
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
            match a.as_str() {
                "--policy" => o.policy = Some(value()?.clone()),
                "--minutes" => {
                    o.minutes = value()?.parse().map_err(|_| "--minutes takes a number")?
                }
                "--users" => o.users = value()?.parse().map_err(|_| "--users takes a number")?,
                other => return Err(format!("unknown option {other}")),
            }
        }
        if o.minutes == 0 || o.users == 0 {
            return Err("--minutes and --users must be at least 1".into());
        }
        Ok(o)
    }
}

/// Who is knocking, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Real users logging in, mistyping once or twice now and then.
    Users,
    /// One attacker on one account from one network, with a CAPTCHA-solving service.
    BruteForce,
    /// One network trying leaked credentials across many accounts.
    Stuffing,
    /// Many networks spraying one account.
    Botnet,
    /// The sprayed account's owner, on a device she logged in from before.
    TrustedDevice,
    /// The same owner from a browser she never used before.
    NewBrowser,
}

struct Actor {
    name: &'static str,
    kind: Kind,
    every_ms: u64,
    solves_captcha: bool,
    tally: Tally,
    seq: u64,
}

#[derive(Default)]
struct Tally {
    attempts: u64,
    allowed: u64,
    challenged: u64,
    denied: u64,
    reset_required: u64,
    logged_in: u64,
    first: [Option<u64>; 4],
    reasons: Vec<String>,
}

impl Tally {
    fn note(&mut self, d: &Decision) {
        self.attempts += 1;
        match d.action {
            Action::Allow => self.allowed += 1,
            Action::Challenge => self.challenged += 1,
            Action::Deny => self.denied += 1,
            Action::ResetRequired => self.reset_required += 1,
        }
        let slot = &mut self.first[d.action as usize];
        if slot.is_none() {
            *slot = Some(self.attempts);
            if let Some(r) = d.reason {
                self.reasons.push(format!("{} by {r}", d.action));
            }
        }
    }
}

const VICTIM: &str = "alice@example.com";
const VICTIM_HOME: &str = "203.0.113.7";

pub fn run(o: Options) -> Result<(), String> {
    let policy = match &o.policy {
        Some(path) => Policy::from_file(path).map_err(|e| e.to_string())?,
        None => Policy::default(),
    };
    // Simulated time starts now, so that a shared store's counters (on real
    // time, shared with other processes) stay in order.
    let start = SystemClock.now_ms();
    let clock = Arc::new(ManualClock::on_unix_time(start));
    let guard = Guard::with_clock(policy, clock.clone()).map_err(|e| e.to_string())?;
    let locks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let l = locks.clone();
    guard.set_listener(move |e| {
        if e.kind == EventKind::Lock {
            l.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });

    let user_gap = (3_600_000 / o.users as u64).max(1);
    let mut actors = vec![
        Actor::new("real users", Kind::Users, user_gap, true),
        Actor::new("brute force on one account", Kind::BruteForce, 2_000, true),
        Actor::new(
            "credential stuffing, one network",
            Kind::Stuffing,
            1_000,
            true,
        ),
        Actor::new("botnet spraying alice", Kind::Botnet, 3_000, true),
        Actor::new("alice, trusted device", Kind::TrustedDevice, 600_000, true),
        Actor::new("alice, new browser", Kind::NewBrowser, 900_000, true),
    ];
    let end = o.minutes * 60_000;
    let mut queue: BinaryHeap<Reverse<(u64, usize)>> = (0..actors.len())
        .map(|i| Reverse((actors[i].every_ms / 2, i)))
        .collect();
    let mut engine_time = Duration::ZERO;
    let mut decisions = 0u64;
    let mut rng = loginguard_rng(7);

    while let Some(Reverse((t, i))) = queue.pop() {
        if t >= end {
            break;
        }
        clock.set_ms(start + t);
        let actor = &mut actors[i];
        actor.seq += 1;
        let n = actor.seq;
        let (account, ip, device) = match actor.kind {
            Kind::Users => (
                format!("user{}@example.com", n % o.users as u64),
                format!("100.64.{}.{}", (n / 250) % 250, n % 250),
                None,
            ),
            Kind::BruteForce => (
                "ceo@example.com".to_string(),
                "198.51.100.66".to_string(),
                None,
            ),
            Kind::Stuffing => (
                format!("leaked{n}@example.com"),
                "198.51.100.23".to_string(),
                None,
            ),
            Kind::Botnet => (
                VICTIM.to_string(),
                format!("45.{}.{}.{}", n / 65536 % 256, n / 256 % 256, n % 256),
                None,
            ),
            Kind::TrustedDevice => (
                VICTIM.to_string(),
                VICTIM_HOME.to_string(),
                Some("alice-laptop-cookie"),
            ),
            Kind::NewBrowser => (VICTIM.to_string(), VICTIM_HOME.to_string(), None),
        };
        // Real users mistype now and then: 1 in 5 once, 1 in 20 twice.
        let typos = match actor.kind {
            Kind::Users => match rng() % 20 {
                0 => 2,
                1..=3 => 1,
                _ => 0,
            },
            Kind::TrustedDevice | Kind::NewBrowser => 0,
            _ => u32::MAX,
        };
        // The simple flow: check; if the password may be checked, check it;
        // record the outcome. The actor is told the decision the attempt ended
        // with: the pre-check's when refused, else the recorded failure's.
        let mut tries = 0;
        loop {
            let mut attempt = Attempt::new().account(&account).ip(&ip);
            if let Some(d) = device {
                attempt = attempt.device(d);
            }
            let start = Instant::now();
            let before = guard.check(&attempt).map_err(|e| e.to_string())?;
            engine_time += start.elapsed();
            decisions += 1;
            if !before.lets_password_be_checked(actor.solves_captcha) {
                actor.tally.note(&before);
                break;
            }
            let start = Instant::now();
            if tries >= typos {
                guard
                    .record_success(&attempt, false)
                    .map_err(|e| e.to_string())?;
                engine_time += start.elapsed();
                actor.tally.note(&before);
                actor.tally.logged_in += 1;
                break;
            }
            let after = guard.record_failure(&attempt).map_err(|e| e.to_string())?;
            engine_time += start.elapsed();
            decisions += 1;
            actor.tally.note(&after);
            tries += 1;
            if typos == u32::MAX {
                break; // attackers make one guess per attempt
            }
        }
        queue.push(Reverse((t + actor.every_ms, i)));
    }

    print_report(
        &o,
        &guard,
        &actors,
        decisions,
        engine_time,
        locks.load(std::sync::atomic::Ordering::Relaxed),
    );
    drop(guard);
    let mut base = match &o.policy {
        Some(path) => Policy::from_file(path).map_err(|e| e.to_string())?,
        None => Policy::default(),
    };
    // The botnet story runs on a table of its own, whatever the policy's store.
    base.store = loginguard::StoreConfig::default();
    botnet_story(&base, o.users)
}

/// The credential-stuffing botnet: how long it runs and how it spreads.
const BOTNET_FROM_MS: u64 = 10 * 60_000;
const BOTNET_UNTIL_MS: u64 = 40 * 60_000;
const BOTNET_GAP_MS: u64 = 90; // 20,000 attempts in 30 minutes
const BOTNET_VALID_PER_MILLE: u64 = 10; // 1% of the leaked pairs still work
const STORY_MS: u64 = 60 * 60_000;
/// The trigger the story uses when the policy leaves `[site]` off.
const STORY_TRIGGER: &str = "300/1m";

/// What one run of the botnet story counted, from the engine's decisions.
#[derive(Default)]
struct Story {
    bot_attempts: u64,
    bot_networks: u64,
    bot_stopped: u64,
    taken_over: u64,
    logins: u64,
    saw_captcha: u64,
    trusted_logins: u64,
    trusted_saw_captcha: u64,
    started_ms: Option<u64>,
    ended_ms: Option<u64>,
}

/// A botnet replays leaked username/password pairs from thousands of
/// networks, one or two attempts each, while real users log in; once with
/// `[site]` off and once on. The botnet solves no CAPTCHA; real users do.
fn botnet_story(base: &Policy, users: usize) -> Result<(), String> {
    let mut off = base.clone();
    off.site.challenge_when = None;
    off.site.calm_when = None;
    off.site.baseline = loginguard::Baseline::Fixed;
    let mut on = base.clone();
    if !on.site.enabled() {
        on.site = Policy::from_toml(&format!("[site]\nchallenge_when = \"{STORY_TRIGGER}\""))
            .map_err(|e| e.to_string())?
            .site;
    }
    let trigger = on
        .site
        .challenge_when
        .map_or(String::new(), |r| r.to_string());
    let runs = [
        ("[site] off".to_string(), botnet_run(off, users)?),
        (format!("[site] on ({trigger})"), botnet_run(on, users)?),
    ];
    let b = &runs[0].1;
    println!(
        "\ncredential stuffing by a botnet: {} attempts from {} networks (one /24 each, 1 or 2 attempts per network) on leaked pairs, {}% of them valid, minutes {}-{} of {}; the botnet solves no CAPTCHA, real users ({} logins, 1 in 3 on a trusted device) solve theirs\n",
        b.bot_attempts,
        b.bot_networks,
        BOTNET_VALID_PER_MILLE as f64 / 10.0,
        BOTNET_FROM_MS / 60_000,
        BOTNET_UNTIL_MS / 60_000,
        STORY_MS / 60_000,
        b.logins,
    );
    println!(
        "| {:<22} | {:>19} | {:>23} | {:>28} | {:>32} | {:>21} |",
        "policy",
        "accounts taken over",
        "botnet attempts stopped",
        "real users who saw a CAPTCHA",
        "of them on a trusted device",
        "attack seen (minutes)"
    );
    println!(
        "|{}|{}|{}|{}|{}|{}|",
        "-".repeat(24),
        "-".repeat(21),
        "-".repeat(25),
        "-".repeat(30),
        "-".repeat(34),
        "-".repeat(23)
    );
    let minute =
        |ms: Option<u64>| ms.map_or("-".to_string(), |ms| format!("{:.1}", ms as f64 / 60_000.0));
    for (name, r) in &runs {
        println!(
            "| {:<22} | {:>19} | {:>23} | {:>28} | {:>32} | {:>21} |",
            name,
            r.taken_over,
            format!("{} of {}", r.bot_stopped, r.bot_attempts),
            format!("{} of {}", r.saw_captcha, r.logins),
            format!("{} of {}", r.trusted_saw_captcha, r.trusted_logins),
            if r.started_ms.is_some() {
                format!("{} to {}", minute(r.started_ms), minute(r.ended_ms))
            } else {
                "-".to_string()
            },
        );
    }
    Ok(())
}

fn botnet_run(policy: Policy, users: usize) -> Result<Story, String> {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let start = SystemClock.now_ms();
    let clock = Arc::new(ManualClock::on_unix_time(start));
    let guard = Guard::with_clock(policy, clock.clone()).map_err(|e| e.to_string())?;
    // The first attack's start and the last one's end, + 1 ms (0: not seen),
    // from the engine's events.
    let seen = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let (s, c) = (seen.clone(), clock.clone());
    guard.set_listener(move |e| {
        let at = c.now_ms() - start + 1;
        match e.kind {
            EventKind::SiteAttackStarted if s[0].load(Relaxed) == 0 => s[0].store(at, Relaxed),
            EventKind::SiteAttackEnded => s[1].store(at, Relaxed),
            _ => {}
        }
    });
    let mut story = Story::default();
    let mut rng = loginguard_rng(42);
    let user_gap = (3_600_000 / users as u64).max(1);
    let (mut next_user, mut next_bot) = (user_gap / 2, BOTNET_FROM_MS);
    let (mut u, mut network, mut left_in_network) = (0u64, 0u64, 0u64);
    let err = |e: loginguard::Error| e.to_string();
    loop {
        let bot = next_bot < next_user;
        let t = if bot { next_bot } else { next_user };
        if t >= STORY_MS {
            break;
        }
        clock.set_ms(start + t);
        if bot {
            if left_in_network == 0 {
                network += 1;
                left_in_network = 1 + rng() % 2;
                story.bot_networks += 1;
            }
            left_in_network -= 1;
            story.bot_attempts += 1;
            let account = format!("leaked{}@example.com", story.bot_attempts);
            let ip = format!(
                "{}.{}.{}.{}",
                11 + network / 65_536,
                network / 256 % 256,
                network % 256,
                1 + rng() % 250
            );
            let attempt = Attempt::new().account(&account).ip(&ip);
            // The framework integrations' flow: begin (which records the
            // failure in advance), then a success takes it back.
            let d = guard.begin(&attempt, false).map_err(err)?;
            if !d.lets_password_be_checked(false) {
                story.bot_stopped += 1;
            } else if rng() % 1000 < BOTNET_VALID_PER_MILLE {
                guard.record_success(&attempt, true).map_err(err)?;
                story.taken_over += 1;
            }
            next_bot += BOTNET_GAP_MS;
            if next_bot >= BOTNET_UNTIL_MS {
                next_bot = u64::MAX;
            }
        } else {
            u += 1;
            let i = u % users as u64;
            let account = format!("user{i}@example.com");
            let ip = format!("100.64.{}.{}", i / 250 % 250, i % 250);
            let device = format!("device-of-user{i}");
            let trusted = i.is_multiple_of(3);
            // Real users mistype now and then: 1 in 5 once, 1 in 20 twice.
            let typos = match rng() % 20 {
                0 => 2,
                1..=3 => 1,
                _ => 0,
            };
            let mut attempt = Attempt::new().account(&account).ip(&ip);
            if trusted {
                attempt = attempt.device(device.as_str());
            }
            let mut captcha = false;
            for tries in 0.. {
                // The login form, then the CAPTCHA page when the answer is challenge.
                let mut d = guard.begin(&attempt, false).map_err(err)?;
                if d.action == Action::Challenge {
                    captcha = true;
                    d = guard.begin(&attempt, true).map_err(err)?;
                }
                if !d.lets_password_be_checked(true) {
                    break;
                }
                if tries >= typos {
                    guard.record_success(&attempt, true).map_err(err)?;
                    break;
                }
            }
            story.logins += 1;
            story.saw_captcha += u64::from(captcha);
            story.trusted_logins += u64::from(trusted);
            story.trusted_saw_captcha += u64::from(trusted && captcha);
            next_user += user_gap;
        }
    }
    let at = |i: usize| match seen[i].load(Relaxed) {
        0 => None,
        n => Some(n - 1),
    };
    story.started_ms = at(0);
    story.ended_ms = at(1);
    Ok(story)
}

impl Actor {
    fn new(name: &'static str, kind: Kind, every_ms: u64, solves_captcha: bool) -> Actor {
        Actor {
            name,
            kind,
            every_ms,
            solves_captcha,
            tally: Tally::default(),
            seq: 0,
        }
    }
}

/// A tiny deterministic generator for the users' typos (splitmix64).
fn loginguard_rng(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn print_report(
    o: &Options,
    guard: &Guard,
    actors: &[Actor],
    decisions: u64,
    engine: Duration,
    locks: u64,
) {
    println!(
        "loginguard simulate: {} simulated minutes, policy {}\n",
        o.minutes,
        o.policy.as_deref().unwrap_or("(default)")
    );
    println!(
        "{:<34} {:>8} {:>8} {:>10} {:>8} {:>8} {:>9}  first challenge / deny / reset_required (attempt #)",
        "actor", "attempts", "allowed", "challenged", "denied", "reset", "logged in"
    );
    for a in actors {
        let t = &a.tally;
        let first = |i: usize| t.first[i].map_or("-".to_string(), |n| n.to_string());
        println!(
            "{:<34} {:>8} {:>8} {:>10} {:>8} {:>8} {:>9}  {} / {} / {}",
            a.name,
            t.attempts,
            t.allowed,
            t.challenged,
            t.denied,
            t.reset_required,
            t.logged_in,
            first(1),
            first(2),
            first(3)
        );
    }
    println!("\nwhy each actor was first stopped:");
    for a in actors {
        if !a.tally.reasons.is_empty() {
            println!("  {:<34} {}", a.name, a.tally.reasons.join(", "));
        }
    }
    let s = guard.stats();
    println!(
        "\nengine: {decisions} decisions, {locks} locks started, {:.0} ns per call on average (check, record_failure, record_success), {:.2} M decisions/s",
        engine.as_nanos() as f64 / decisions.max(1) as f64,
        decisions as f64 / engine.as_secs_f64().max(1e-9) / 1e6
    );
    println!("table: {s}");
}
