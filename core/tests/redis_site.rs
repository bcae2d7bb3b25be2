//! The site-wide window (`[site]`) on the redis store: one key that every
//! host shares, each transition told by exactly one host, `check` still one
//! round trip, a TTL on the key, and a frozen Redis still answered within
//! the deadline.

mod support;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};

use loginguard::{Action, Attempt, Decision, EventKind, Guard, ManualClock, Policy, Reason};
use support::redis::{assert_frozen_calls_take_one_deadline, available, counted, on_redis, Server};

const SITE: &str = "[site]\nchallenge_when = \"10/1m\"\ncalm_for = \"2m\"";

/// `n` guards (hosts) on one server and prefix, on one manual clock.
fn hosts(server: &Server, prefix: &str, n: usize) -> (Vec<Guard>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    clock.set_ms(1_000_000);
    let guards = (0..n)
        .map(|_| {
            let mut policy = Policy::from_toml(SITE).unwrap();
            on_redis(&mut policy, &server.url(), prefix);
            Guard::with_clock(policy, clock.clone()).unwrap()
        })
        .collect();
    (guards, clock)
}

/// Counts every guard's site events into one list.
fn listen(guards: &[Guard]) -> Arc<Mutex<Vec<(EventKind, u32)>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    for g in guards {
        let sink = events.clone();
        g.set_listener(move |e| {
            if matches!(
                e.kind,
                EventKind::SiteAttackStarted | EventKind::SiteAttackEnded
            ) {
                sink.lock().unwrap().push((e.kind, e.failures));
            }
        });
    }
    events
}

fn botnet_failure(g: &Guard, i: u32) -> Decision {
    let account = format!("user{i}");
    let ip = format!("{}.{}.{}.1", 10 + (i >> 16), (i >> 8) & 255, i & 255);
    let d = g
        .record_failure(&Attempt::new().account(&account).ip(&ip))
        .unwrap();
    assert!(!d.degraded, "{d}");
    d
}

#[test]
fn hosts_on_one_server_see_one_window_and_tell_each_transition_once() {
    if !available() {
        return;
    }
    let server = Server::start();
    let (g, clock) = hosts(&server, "one", 2);
    let events = listen(&g);
    for i in 0..10 {
        let d = botnet_failure(&g[(i % 2) as usize], i);
        assert_eq!(d.action, Action::Allow, "{d}");
    }
    for h in &g {
        let s = h.site_state().unwrap();
        assert_eq!((s.rate, s.trigger, s.active), (10, 10, false));
    }
    // The 11th failure, on the second host, crosses the trigger.
    let d = botnet_failure(&g[1], 10);
    assert_eq!(
        (d.action, d.reason, d.failures),
        (Action::Challenge, Some(Reason::Site), 11)
    );
    let alice = Attempt::new().account("alice").ip("192.0.2.1");
    let d = g[0].check(&alice).unwrap();
    assert_eq!(
        (d.action, d.reason),
        (Action::Challenge, Some(Reason::Site))
    );
    let s = g[0].stats().site.unwrap();
    assert_eq!((s.rate, s.active, s.since_ms), (11, true, Some(1_000_000)));
    let i = g[1].inspect(&alice).unwrap();
    assert!(i.site.unwrap().active);
    assert_eq!(i.decision.reason, Some(Reason::Site));
    // A trusted device is never challenged by the site-wide signal.
    let trusted = Attempt::new().account("alice").device("laptop");
    assert_eq!(g[1].check(&trusted).unwrap().action, Action::Allow);
    // A begin the challenge refuses writes no counter and counts in the window.
    let bot = Attempt::new().account("bot").ip("198.18.0.1");
    let d = g[0].begin(&bot, false).unwrap();
    assert_eq!(
        (d.action, d.reason),
        (Action::Challenge, Some(Reason::Site))
    );
    let i = g[1].inspect(&bot).unwrap();
    assert!(i.dimensions.iter().all(|d| d.failures == 0), "{i:?}");
    assert_eq!(g[1].site_state().unwrap().rate, 12);
    // ... and one that solved it takes that back (its own failure counts
    // until its login succeeds).
    let d = g[1].begin(&bot, true).unwrap();
    assert!(d.lets_password_be_checked(true), "{d}");
    assert_eq!(g[0].site_state().unwrap().rate, 12);
    g[1].record_success(&bot, true).unwrap();
    assert_eq!(g[0].site_state().unwrap().rate, 11);
    // Calm from 60s on (the 12th failure's step, 0, leaves the window),
    // over 2 minutes later: both hosts ask, one tells the end.
    clock.advance_ms(180_000 - 1);
    assert!(g[0].site_state().unwrap().active);
    clock.advance_ms(1);
    let ends: Vec<Action> = g.iter().map(|h| h.check(&alice).unwrap().action).collect();
    assert_eq!(ends, [Action::Allow, Action::Allow]);
    assert!(!g[1].site_state().unwrap().active);
    assert_eq!(
        *events.lock().unwrap(),
        [
            (EventKind::SiteAttackStarted, 11),
            (EventKind::SiteAttackEnded, 0)
        ]
    );
}

#[test]
fn threads_of_several_hosts_crossing_at_once_start_one_attack() {
    if !available() {
        return;
    }
    let server = Server::start();
    let (g, _clock) = hosts(&server, "race", 2);
    let events = listen(&g);
    const THREADS: u32 = 8;
    const EACH: u32 = 10;
    let barrier = Barrier::new(THREADS as usize);
    let site_decisions = AtomicU32::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (g, barrier, site_decisions) = (&g, &barrier, &site_decisions);
            s.spawn(move || {
                let host = &g[(t % 2) as usize];
                barrier.wait();
                for i in 0..EACH {
                    let d = botnet_failure(host, t * EACH + i);
                    if d.reason == Some(Reason::Site) {
                        site_decisions.fetch_add(1, SeqCst);
                    }
                }
            });
        }
    });
    let total = THREADS * EACH;
    assert_eq!(g[0].site_state().unwrap().rate, u64::from(total));
    // Every failure that left the rate above 10 (the 11th to the 80th) saw
    // the attack: the one that started it, and every one after.
    assert_eq!(site_decisions.load(SeqCst), total - 10);
    // One start, told with the rate its caller saw (others' failures may
    // have come in between).
    let started: Vec<u32> = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == EventKind::SiteAttackStarted)
        .map(|e| e.1)
        .collect();
    assert!(
        started.len() == 1 && (11..=total).contains(&started[0]),
        "{started:?}"
    );
}

#[test]
fn check_stays_one_round_trip_and_the_site_key_expires() {
    if !available() {
        return;
    }
    let server = Server::start();
    let (g, _clock) = hosts(&server, "trips", 1);
    let g = &g[0];
    let a = Attempt::new().account("alice").ip("203.0.113.7");
    // The first writes load the scripts (NOSCRIPT, then EVAL).
    g.begin(&a, false).unwrap();
    g.record_success(&a, true).unwrap();
    let (_, n) = counted(g, || g.check(&a).unwrap());
    assert_eq!(n, 1, "check");
    let (d, n) = counted(g, || g.begin(&a, false).unwrap());
    assert_eq!((d.action, n), (Action::Allow, 1), "begin {d}");
    let (_, n) = counted(g, || g.record_success(&a, true).unwrap());
    assert_eq!(n, 1, "record_success");
    let (_, n) = counted(g, || g.record_failure(&a).unwrap());
    assert_eq!(n, 1, "record_failure");
    // An attack: check still one round trip; a begin the challenge refuses
    // after it wrote takes its writes back (two).
    for i in 0..11 {
        botnet_failure(g, i);
    }
    let (d, n) = counted(g, || g.check(&a).unwrap());
    assert_eq!((d.reason, n), (Some(Reason::Site), 1), "check {d}");
    let bot = Attempt::new().account("bot").ip("198.18.0.1");
    let (d, n) = counted(g, || g.begin(&bot, false).unwrap());
    assert_eq!((d.reason, n), (Some(Reason::Site), 2), "begin {d}");
    // The key, its TTL two windows and calm_for.
    let ttl: i64 = server
        .cli(&["pttl", "trips:{site}"])
        .trim()
        .parse()
        .unwrap();
    assert!(ttl > 0 && ttl <= 240_000, "PTTL {ttl}");
    for key in server.keys("trips*") {
        let ttl: i64 = server.cli(&["pttl", &key]).trim().parse().unwrap();
        assert!(ttl > 0, "{key} has PTTL {ttl}");
    }
}

#[test]
fn a_frozen_redis_with_site_on_degrades_within_the_deadline() {
    if !available() {
        return;
    }
    let server = Server::start();
    assert_frozen_calls_take_one_deadline(&server, Policy::from_toml(SITE).unwrap(), "frozen");
}

/// A step overwritten during an attack still counts towards its end: the
/// host whose failure replaced it notes the later hot step it showed.
#[test]
fn a_hot_step_replaced_during_an_attack_still_holds_it() {
    if !available() {
        return;
    }
    let server = Server::start();
    let (g, clock) = hosts(&server, "lost", 2);
    let events = listen(&g);
    // 11 failures in step 0 start it; 5 in step 50 keep the rate at
    // calm_when (5) until step 109.
    for i in 0..11 {
        botnet_failure(&g[0], i);
    }
    clock.advance_ms(50_000);
    for i in 11..16 {
        botnet_failure(&g[1], i);
    }
    // Steps 60 and 110 replace steps 0 and 50, before any check.
    clock.advance_ms(10_000);
    botnet_failure(&g[0], 16);
    clock.advance_ms(50_000);
    botnet_failure(&g[1], 17);
    // Hot until step 109: the attack ends at 110s + 2m (without the note,
    // at 60s + 2m: the steps left show nothing hot).
    clock.advance_ms(120_000 - 1);
    assert!(g[1].site_state().unwrap().active);
    clock.advance_ms(1);
    assert!(!g[0].site_state().unwrap().active);
    assert_eq!(
        events
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.0)
            .collect::<Vec<_>>(),
        [EventKind::SiteAttackStarted, EventKind::SiteAttackEnded]
    );
}

/// `baseline = "auto"`: the hourly words live in the key too, and every
/// host learns the same trigger.
#[test]
fn the_baseline_learned_on_redis_raises_every_hosts_trigger() {
    if !available() {
        return;
    }
    let server = Server::start();
    let clock = Arc::new(ManualClock::new());
    let g: Vec<Guard> = (0..2)
        .map(|_| {
            let mut policy = Policy::from_toml(
                "[site]\nchallenge_when = \"10/1h\"\nbaseline = \"auto\"\nsurge = 5",
            )
            .unwrap();
            on_redis(&mut policy, &server.url(), "auto");
            Guard::with_clock(policy, clock.clone()).unwrap()
        })
        .collect();
    // A day of 4 failures an hour: below the floor of 10, and learned:
    // 96 a day is 4 an hour, × 5 = 20 an hour from then on.
    let mut n = 0;
    for _hour in 0..24 {
        for _ in 0..4 {
            assert_eq!(botnet_failure(&g[n as usize % 2], n).reason, None);
            n += 1;
        }
        clock.advance_ms(3_600_000);
    }
    for h in &g {
        let s = h.site_state().unwrap();
        assert_eq!((s.rate, s.trigger, s.active), (0, 20, false));
    }
    for i in 0..20 {
        assert_eq!(botnet_failure(&g[i as usize % 2], 1000 + i).reason, None);
    }
    let d = botnet_failure(&g[0], 1020);
    assert_eq!((d.reason, d.failures), (Some(Reason::Site), 21));
    // The key lives a day and an hour more than the window for the hours.
    let ttl: i64 = server.cli(&["pttl", "auto:{site}"]).trim().parse().unwrap();
    assert!(ttl > 86_400_000, "PTTL {ttl}");
}
