//! The site-wide signal (`[site]`): events told exactly once, the state in
//! `stats` and `inspect`, one window for every guard on a shared file, and
//! exactly one start however many threads cross the trigger at once.

mod support;

use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex};

use loginguard::{Action, Attempt, EventKind, Guard, ManualClock, Policy, Reason};

fn site_policy(extra: &str) -> Policy {
    Policy::from_toml(&format!(
        "[site]\nchallenge_when = \"10/1m\"\ncalm_for = \"2m\"\n{extra}"
    ))
    .unwrap()
}

fn botnet_failure(g: &Guard, i: u32) -> loginguard::Decision {
    let account = format!("user{i}");
    // One /24 each: a botnet of many networks, no ip_range crossing.
    let ip = format!("{}.{}.{}.1", 10 + (i >> 16), (i >> 8) & 255, i & 255);
    g.record_failure(&Attempt::new().account(&account).ip(&ip))
        .unwrap()
}

#[test]
fn attacks_start_and_end_once_with_events_stats_and_inspect() {
    let clock = Arc::new(ManualClock::new());
    clock.set_ms(1_000_000);
    let g = Guard::with_clock(site_policy(""), clock.clone()).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    g.set_listener(move |e| {
        if matches!(
            e.kind,
            EventKind::SiteAttackStarted | EventKind::SiteAttackEnded
        ) {
            sink.lock().unwrap().push((e.kind, e.failures, e.dimension));
        }
    });
    let s = g.stats().site.unwrap();
    assert_eq!(
        (s.rate, s.trigger, s.per_ms, s.active),
        (0, 10, 60_000, false)
    );
    for i in 0..10 {
        assert_eq!(botnet_failure(&g, i).action, Action::Allow);
    }
    let d = botnet_failure(&g, 10);
    assert_eq!(
        (d.action, d.reason, d.failures),
        (Action::Challenge, Some(Reason::Site), 11)
    );
    for i in 11..30 {
        botnet_failure(&g, i);
    }
    let s = g.stats().site.unwrap();
    assert_eq!((s.rate, s.active, s.since_ms), (30, true, Some(1_000_000)));
    let alice = Attempt::new().account("alice").ip("192.0.2.1");
    let i = g.inspect(&alice).unwrap();
    assert_eq!(i.decision.reason, Some(Reason::Site));
    assert!(i.site.unwrap().active);
    // Quiet: calm from 60s on, ended 2m later, told once.
    clock.advance_ms(180_000 - 1);
    assert!(g.stats().site.unwrap().active);
    clock.advance_ms(1);
    assert_eq!(g.check(&alice).unwrap().action, Action::Allow);
    assert_eq!(g.check(&alice).unwrap().action, Action::Allow);
    let s = g.stats().site.unwrap();
    assert_eq!((s.rate, s.active, s.since_ms), (0, false, None));
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            (EventKind::SiteAttackStarted, 11, None),
            (EventKind::SiteAttackEnded, 0, None)
        ]
    );
    assert!(g.stats().to_string().contains("site: 0 failures"));
}

#[test]
fn one_start_however_many_threads_cross_the_trigger() {
    const THREADS: usize = 8;
    let clock = Arc::new(ManualClock::new());
    let g = Guard::with_clock(site_policy(""), clock).unwrap();
    let starts = Arc::new(AtomicU32::new(0));
    let s = starts.clone();
    g.set_listener(move |e| {
        if e.kind == EventKind::SiteAttackStarted {
            s.fetch_add(1, SeqCst);
        }
    });
    let site_decisions = botnet_at_once(&g, THREADS, 50);
    assert_eq!(starts.load(SeqCst), 1);
    assert_eq!(g.stats().site.unwrap().rate, 400);
    // Failures 11..=400 each saw the attack (the clock is frozen).
    assert_eq!(site_decisions, 390);
}

/// `threads` threads each recording `each` botnet failures at once; how many
/// decisions were a site challenge.
fn botnet_at_once(g: &Guard, threads: usize, each: usize) -> usize {
    let site_decisions = AtomicU32::new(0);
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (barrier, site_decisions) = (&barrier, &site_decisions);
            scope.spawn(move || {
                barrier.wait();
                for n in 0..each {
                    let d = botnet_failure(g, (t * each + n) as u32);
                    if d.reason == Some(Reason::Site) {
                        site_decisions.fetch_add(1, SeqCst);
                    }
                }
            });
        }
    });
    site_decisions.into_inner() as usize
}

/// The failure that a call records is the one its decision answers for: a
/// call whose failure was still under the trigger is not told of an attack
/// that a later failure, recorded by another thread while this call updated
/// its counters, started. Many rounds, so that the interleaving occurs.
#[test]
fn a_decision_answers_for_its_own_failure_not_a_later_ones_attack() {
    const THREADS: usize = 4;
    const EACH: usize = 8;
    const ROUNDS: usize = 400;
    let mut early = 0;
    for _ in 0..ROUNDS {
        let mut policy = site_policy("");
        policy.store.capacity = 1024;
        let g = Guard::with_clock(policy, Arc::new(ManualClock::new())).unwrap();
        let seen = botnet_at_once(&g, THREADS, EACH);
        assert!(seen >= THREADS * EACH - 10, "{seen} saw the attack");
        early += seen - (THREADS * EACH - 10);
    }
    assert_eq!(
        early, 0,
        "decisions told of an attack their failure did not start"
    );
}

#[test]
fn every_guard_on_a_shared_file_sees_one_window() {
    let path = support::shared::temp_store("site", "one-window");
    let mut policy = site_policy("");
    policy.store.kind = loginguard::StoreKind::Shared;
    policy.store.path = Some(path.clone());
    policy.store.capacity = 4096;
    let a = Guard::new(policy.clone()).unwrap();
    let b = Guard::new(policy).unwrap();
    for i in 0..6 {
        botnet_failure(&a, i);
    }
    for i in 6..11 {
        botnet_failure(&b, i);
    }
    let fresh = Attempt::new().account("zoe").ip("198.51.100.1");
    assert_eq!(a.check(&fresh).unwrap().reason, Some(Reason::Site));
    assert_eq!(b.check(&fresh).unwrap().reason, Some(Reason::Site));
    assert_eq!(b.stats().site.unwrap().rate, 11);
    drop((a, b));
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn the_baseline_learns_a_busy_site_and_raises_its_trigger() {
    let clock = Arc::new(ManualClock::new());
    let g =
        Guard::with_clock(site_policy("baseline = \"auto\"\nsurge = 5"), clock.clone()).unwrap();
    // A day of 8 failures a minute: below the floor of 10, so no attack,
    // and learned: 8/min × 5 = 40/min is the trigger from then on.
    let mut n = 0;
    for _minute in 0..24 * 60 {
        for _ in 0..8 {
            botnet_failure(&g, n % 60_000);
            n += 1;
        }
        clock.advance_ms(60_000);
    }
    let s = g.stats().site.unwrap();
    assert_eq!((s.trigger, s.active), (40, false));
    for i in 0..40 {
        assert_eq!(botnet_failure(&g, 100_000 + i).reason, None, "{i}");
    }
    let d = botnet_failure(&g, 100_040);
    assert_eq!((d.reason, d.failures), (Some(Reason::Site), 41));
}
