use super::*;

mod random;

const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
const INTERVAL: Duration = Duration::from_secs(30);
const PONG_TIMEOUT: Duration = Duration::from_secs(10);

fn config(framing: Framing, keep_alive: bool) -> LifecycleConfig {
    LifecycleConfig {
        close_timeout: CLOSE_TIMEOUT,
        keep_alive: keep_alive.then_some((INTERVAL, PONG_TIMEOUT)),
        framing,
    }
}

fn secs(base: Instant, s: u64) -> Instant {
    base + Duration::from_secs(s)
}

fn just_before(t: Instant) -> Instant {
    t.checked_sub(Duration::from_nanos(1)).expect("an instant after the clock's origin")
}

fn ws() -> (Lifecycle, Instant) {
    let base = Instant::now();
    (Lifecycle::new(config(Framing::WebSocket, false), base), base)
}

fn lines() -> (Lifecycle, Instant) {
    let base = Instant::now();
    (Lifecycle::new(config(Framing::Lines, false), base), base)
}

fn keep_alive(framing: Framing) -> (Lifecycle, Instant) {
    let base = Instant::now();
    (Lifecycle::new(config(framing, true), base), base)
}

fn actions(lc: &mut Lifecycle) -> Vec<Action> {
    std::iter::from_fn(|| lc.poll_action()).collect()
}

fn frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame::new(CloseCode(code), reason)
}

fn report(code: u16, reason: &str, clean: bool) -> CloseReport {
    CloseReport { code: CloseCode(code), reason: reason.to_owned(), clean }
}

fn abnormal(reason: &str) -> CloseReport {
    report(1006, reason, false)
}

/// Drives a fresh machine into `phase` at `base`, its actions drained.
fn in_phase(framing: Framing, phase: Phase) -> (Lifecycle, Instant) {
    let base = Instant::now();
    let mut lc = Lifecycle::new(config(framing, false), base);
    match phase {
        Phase::Open => {}
        Phase::Closing => lc.close(frame(1000, "bye"), base),
        Phase::Failing => {
            lc.fail(Failure::Protocol, CloseCode::PROTOCOL_ERROR, "bad frame", base);
        }
        Phase::Flushing => lc.on_eof(base),
        Phase::Done => lc.abort(),
    }
    assert_eq!(lc.phase(), phase, "setup for {framing:?}");
    actions(&mut lc);
    (lc, base)
}

const ALL_PHASES: [Phase; 5] = [Phase::Open, Phase::Closing, Phase::Failing, Phase::Flushing, Phase::Done];
const BOTH: [Framing; 2] = [Framing::WebSocket, Framing::Lines];

#[test]
fn new_arms_keep_alive_only_when_configured() {
    let (lc, base) = keep_alive(Framing::WebSocket);
    assert_eq!(lc.poll_timeout(), Some(base + INTERVAL));
    let (lc, _) = ws();
    assert_eq!(lc.poll_timeout(), None);
    assert_eq!(lc.phase(), Phase::Open);
    assert!(lc.accepts_messages() && lc.wants_read() && lc.decodes_input() && !lc.is_closing());
}

#[test]
fn peer_close_while_open_is_echoed_with_its_code_only() {
    let (mut lc, base) = ws();
    lc.on_peer_close(Some(frame(4000, "bye now")), secs(base, 1));
    assert_eq!(actions(&mut lc), [Action::SendClose(Some(frame(4000, ""))), Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Flushing);
    assert_eq!(lc.poll_timeout(), Some(secs(base, 1) + CLOSE_TIMEOUT));
    assert!(!lc.wants_read() && !lc.accepts_messages() && lc.is_closing());
    lc.on_flushed(false);
    assert_eq!(actions(&mut lc), [Action::Finish { shutdown_and_linger: false }]);
    assert_eq!(lc.take_report(), report(4000, "bye now", true));
}

#[test]
fn peer_close_without_a_code_is_answered_empty_and_reported_1005() {
    let (mut lc, base) = ws();
    lc.on_peer_close(None, base);
    assert_eq!(actions(&mut lc), [Action::SendClose(None), Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Flushing);
    assert_eq!(lc.take_report(), report(1005, "", true));
}

#[test]
fn peer_close_while_closing_completes_the_handshake_with_our_code() {
    let (mut lc, base) = ws();
    lc.close(frame(4001, "done here"), base);
    actions(&mut lc);
    lc.on_peer_close(Some(frame(1000, "ok")), secs(base, 2));
    assert!(actions(&mut lc).is_empty(), "no second close frame, no second StopSends");
    assert_eq!(lc.phase(), Phase::Flushing);
    // The close timeout starts again for the flush.
    assert_eq!(lc.poll_timeout(), Some(secs(base, 2) + CLOSE_TIMEOUT));
    assert_eq!(lc.take_report(), report(4001, "done here", true));
}

#[test]
fn peer_close_is_ignored_after_failing_and_on_lines() {
    for phase in [Phase::Failing, Phase::Flushing, Phase::Done] {
        let (mut lc, base) = in_phase(Framing::WebSocket, phase);
        let before = format!("{lc:?}");
        lc.on_peer_close(Some(frame(1000, "")), secs(base, 1));
        assert_eq!(format!("{lc:?}"), before, "{phase:?}");
    }
    let (mut lc, base) = lines();
    lc.on_peer_close(None, base);
    assert_eq!(lc.phase(), Phase::Open);
    assert!(actions(&mut lc).is_empty());
}

#[test]
fn we_close_websocket_send_a_close_frame_and_wait_for_the_peer() {
    let (mut lc, base) = ws();
    lc.close(frame(1001, "server shutting down"), secs(base, 3));
    assert_eq!(
        actions(&mut lc),
        [Action::SendClose(Some(frame(1001, "server shutting down"))), Action::StopSends]
    );
    assert_eq!(lc.phase(), Phase::Closing);
    assert!(lc.wants_read() && lc.decodes_input() && !lc.accepts_messages());
    assert_eq!(lc.poll_timeout(), Some(secs(base, 3) + CLOSE_TIMEOUT));
    assert_eq!(lc.take_report(), report(1001, "server shutting down", false));
}

#[test]
fn we_close_lines_flush_and_report_clean() {
    let (mut lc, base) = lines();
    lc.close(frame(1000, "quit"), base);
    assert_eq!(actions(&mut lc), [Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Flushing);
    assert_eq!(lc.poll_timeout(), Some(base + CLOSE_TIMEOUT));
    lc.on_flushed(false);
    assert_eq!(actions(&mut lc), [Action::Finish { shutdown_and_linger: true }]);
    assert_eq!(lc.take_report(), report(1000, "quit", true));
}

#[test]
fn close_is_ignored_unless_open() {
    for framing in BOTH {
        for phase in [Phase::Closing, Phase::Failing, Phase::Flushing, Phase::Done] {
            if framing == Framing::Lines && phase == Phase::Closing {
                continue; // lines never wait for a close frame
            }
            let (mut lc, base) = in_phase(framing, phase);
            let before = format!("{lc:?}");
            lc.close(frame(1000, "again"), secs(base, 1));
            assert_eq!(format!("{lc:?}"), before, "{framing:?} {phase:?}");
        }
    }
}

#[test]
fn component_failure_closes_like_the_component_would() {
    let (mut lc, base) = ws();
    assert!(lc.fail(Failure::Component, CloseCode::INTERNAL_ERROR, "internal error", base));
    assert_eq!(actions(&mut lc), [Action::SendClose(Some(frame(1011, "internal error"))), Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Closing);
    assert_eq!(lc.take_report(), report(1011, "internal error", false));

    let (mut lc, base) = lines();
    assert!(lc.fail(Failure::Component, CloseCode::INTERNAL_ERROR, "internal error", base));
    assert_eq!(actions(&mut lc), [Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Flushing);
    assert_eq!(lc.take_report(), report(1011, "internal error", true));
}

#[test]
fn component_failure_while_closing_is_reported_but_changes_nothing() {
    let (mut lc, base) = in_phase(Framing::WebSocket, Phase::Closing);
    let before = format!("{lc:?}");
    assert!(lc.fail(Failure::Component, CloseCode::INTERNAL_ERROR, "internal error", secs(base, 1)));
    assert_eq!(format!("{lc:?}"), before);
}

#[test]
fn failures_after_failing_or_flushing_are_not_taken() {
    for framing in BOTH {
        for phase in [Phase::Failing, Phase::Flushing, Phase::Done] {
            for failure in [Failure::Protocol, Failure::Component] {
                let (mut lc, base) = in_phase(framing, phase);
                let before = format!("{lc:?}");
                assert!(!lc.fail(failure, CloseCode::TOO_BIG, "too big", secs(base, 1)));
                assert_eq!(format!("{lc:?}"), before, "{framing:?} {phase:?} {failure:?}");
            }
        }
    }
}

#[test]
fn protocol_failure_while_open_sends_close_and_drops_input() {
    let (mut lc, base) = ws();
    assert!(lc.fail(Failure::Protocol, CloseCode::PROTOCOL_ERROR, "reserved opcode 0x3", secs(base, 1)));
    assert_eq!(
        actions(&mut lc),
        [
            Action::SendClose(Some(frame(1002, "reserved opcode 0x3"))),
            Action::DiscardInput,
            Action::StopSends
        ]
    );
    assert_eq!(lc.phase(), Phase::Failing);
    assert!(lc.wants_read() && !lc.decodes_input());
    assert_eq!(lc.poll_timeout(), Some(secs(base, 1) + CLOSE_TIMEOUT));
    lc.on_flushed(false);
    assert_eq!(actions(&mut lc), [Action::Finish { shutdown_and_linger: true }]);
    assert_eq!(lc.take_report(), report(1002, "reserved opcode 0x3", false));
}

#[test]
fn protocol_failure_while_closing_keeps_our_close_frame_and_replaces_the_report() {
    let (mut lc, base) = in_phase(Framing::WebSocket, Phase::Closing);
    assert!(lc.fail(Failure::Protocol, CloseCode::INVALID_PAYLOAD, "invalid UTF-8", secs(base, 2)));
    assert_eq!(actions(&mut lc), [Action::DiscardInput]);
    assert_eq!(lc.phase(), Phase::Failing);
    assert_eq!(lc.poll_timeout(), Some(secs(base, 2) + CLOSE_TIMEOUT));
    assert_eq!(lc.take_report(), report(1007, "invalid UTF-8", false));
}

#[test]
fn line_too_long_fails_without_a_frame() {
    let (mut lc, base) = lines();
    assert!(lc.fail(Failure::Protocol, CloseCode::TOO_BIG, "line too long", base));
    assert_eq!(actions(&mut lc), [Action::DiscardInput, Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Failing);
    lc.on_flushed(false);
    assert_eq!(actions(&mut lc), [Action::Finish { shutdown_and_linger: true }]);
    assert_eq!(lc.take_report(), report(1009, "line too long", false));
}

#[test]
fn failure_reason_is_cut_to_fit_a_close_frame() {
    let (mut lc, base) = ws();
    let long = "x".repeat(200);
    lc.fail(Failure::Protocol, CloseCode::PROTOCOL_ERROR, &long, base);
    let Some(Action::SendClose(Some(sent))) = lc.poll_action() else { panic!("no close frame") };
    assert_eq!(sent.reason.len(), 123);
    assert_eq!(lc.take_report().reason, sent.reason);
}

#[test]
fn overflow_discards_the_backlog_then_closes_1008() {
    let (mut lc, base) = ws();
    lc.overflow(base);
    assert_eq!(
        actions(&mut lc),
        [
            Action::DiscardQueue,
            Action::SlowConsumer,
            Action::SendClose(Some(frame(1008, "slow consumer"))),
            Action::StopSends
        ]
    );
    assert_eq!(lc.phase(), Phase::Closing);
    assert_eq!(lc.take_report(), report(1008, "slow consumer", false));

    let (mut lc, base) = lines();
    lc.overflow(base);
    assert_eq!(actions(&mut lc), [Action::DiscardQueue, Action::SlowConsumer, Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Flushing);
    assert_eq!(lc.take_report(), report(1008, "slow consumer", true));
}

#[test]
fn overflow_is_ignored_unless_open() {
    for phase in [Phase::Closing, Phase::Failing, Phase::Flushing, Phase::Done] {
        let (mut lc, base) = in_phase(Framing::WebSocket, phase);
        let before = format!("{lc:?}");
        lc.overflow(secs(base, 1));
        assert_eq!(format!("{lc:?}"), before, "{phase:?}");
    }
}

#[test]
fn eof_while_open_on_lines_is_an_orderly_end() {
    let (mut lc, base) = lines();
    lc.on_eof(secs(base, 1));
    assert_eq!(actions(&mut lc), [Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Flushing);
    assert_eq!(lc.poll_timeout(), Some(secs(base, 1) + CLOSE_TIMEOUT));
    assert_eq!(lc.take_report(), report(1000, "", true));
}

#[test]
fn eof_while_open_on_websocket_is_abnormal_but_still_flushes() {
    let (mut lc, base) = ws();
    lc.on_eof(base);
    assert_eq!(actions(&mut lc), [Action::StopSends]);
    assert_eq!(lc.phase(), Phase::Flushing);
    lc.on_flushed(false);
    assert_eq!(actions(&mut lc), [Action::Finish { shutdown_and_linger: true }]);
    assert_eq!(lc.take_report(), abnormal("connection closed without a close frame"));
}

#[test]
fn eof_while_closing_ends_abnormally() {
    let (mut lc, base) = in_phase(Framing::WebSocket, Phase::Closing);
    lc.on_eof(secs(base, 1));
    assert!(actions(&mut lc).is_empty());
    assert_eq!(lc.phase(), Phase::Done);
    assert_eq!(lc.poll_timeout(), None);
    assert_eq!(lc.take_report(), abnormal("connection closed without a close frame"));
}

#[test]
fn eof_while_failing_flushes_on_the_same_deadline() {
    for framing in BOTH {
        let (mut lc, base) = in_phase(framing, Phase::Failing);
        lc.on_eof(secs(base, 3));
        assert!(actions(&mut lc).is_empty());
        assert_eq!(lc.phase(), Phase::Flushing);
        assert_eq!(lc.poll_timeout(), Some(base + CLOSE_TIMEOUT));
        assert_eq!(lc.take_report(), report(1002, "bad frame", false));
    }
}

#[test]
fn eof_after_flushing_changes_nothing() {
    for framing in BOTH {
        for phase in [Phase::Flushing, Phase::Done] {
            let (mut lc, base) = in_phase(framing, phase);
            let before = format!("{lc:?}");
            lc.on_eof(secs(base, 1));
            assert_eq!(format!("{lc:?}"), before, "{framing:?} {phase:?}");
        }
    }
}

#[test]
fn io_error_while_open_reports_connection_broke() {
    for framing in BOTH {
        let (mut lc, _) = in_phase(framing, Phase::Open);
        assert!(lc.on_io_error());
        assert_eq!(actions(&mut lc), [Action::StopSends]);
        assert_eq!(lc.phase(), Phase::Done);
        assert_eq!(lc.poll_timeout(), None);
        assert_eq!(lc.take_report(), abnormal("connection broke"));
    }
}

#[test]
fn io_error_while_closing_keeps_what_was_known() {
    let (mut lc, _) = in_phase(Framing::WebSocket, Phase::Closing);
    assert!(!lc.on_io_error());
    assert!(actions(&mut lc).is_empty());
    assert_eq!(lc.phase(), Phase::Done);
    assert_eq!(lc.take_report(), report(1000, "bye", false));

    let (mut lc, _) = in_phase(Framing::Lines, Phase::Flushing);
    assert!(!lc.on_io_error());
    assert_eq!(lc.take_report(), report(1000, "", true));
}

#[test]
fn flushed_just_drops_a_clean_websocket_over_plain_tcp() {
    let (mut lc, base) = ws();
    lc.on_peer_close(Some(frame(1000, "")), base);
    actions(&mut lc);
    lc.on_flushed(true);
    assert_eq!(actions(&mut lc), [Action::Finish { shutdown_and_linger: true }], "TLS sends close_notify");

    let (mut lc, base) = ws();
    lc.close(frame(1000, ""), base);
    lc.on_peer_close(None, base);
    actions(&mut lc);
    lc.on_flushed(false);
    assert_eq!(actions(&mut lc), [Action::Finish { shutdown_and_linger: false }]);
    assert_eq!(lc.phase(), Phase::Done);
    assert_eq!(lc.poll_timeout(), None);
}

#[test]
fn flushed_is_ignored_while_reading_or_done() {
    for framing in BOTH {
        for phase in [Phase::Open, Phase::Closing, Phase::Done] {
            if framing == Framing::Lines && phase == Phase::Closing {
                continue;
            }
            let (mut lc, _) = in_phase(framing, phase);
            let before = format!("{lc:?}");
            lc.on_flushed(false);
            assert_eq!(format!("{lc:?}"), before, "{framing:?} {phase:?}");
        }
    }
}

#[test]
fn abort_overrides_any_report() {
    for framing in BOTH {
        for phase in [Phase::Open, Phase::Closing, Phase::Failing, Phase::Flushing] {
            if framing == Framing::Lines && phase == Phase::Closing {
                continue;
            }
            let (mut lc, _) = in_phase(framing, phase);
            lc.abort();
            assert_eq!(lc.phase(), Phase::Done);
            assert_eq!(lc.poll_timeout(), None);
            let expected: &[Action] = if phase == Phase::Open { &[Action::StopSends] } else { &[] };
            assert_eq!(actions(&mut lc), expected);
            assert_eq!(lc.take_report(), abnormal("server stopped before the close completed"));
        }
    }
}

#[test]
fn unanswered_close_ends_1006_at_exactly_the_close_timeout() {
    let (mut lc, base) = ws();
    lc.close(frame(1000, "bye"), secs(base, 1));
    actions(&mut lc);
    let deadline = secs(base, 1) + CLOSE_TIMEOUT;
    lc.handle_timeout(just_before(deadline));
    assert_eq!(lc.phase(), Phase::Closing);
    lc.handle_timeout(deadline);
    assert_eq!(lc.phase(), Phase::Done);
    assert!(actions(&mut lc).is_empty());
    assert_eq!(lc.take_report(), abnormal("no close frame received in time"));
}

#[test]
fn close_timeout_after_a_failure_keeps_the_failure_code() {
    for framing in BOTH {
        let (mut lc, base) = in_phase(framing, Phase::Failing);
        lc.handle_timeout(base + CLOSE_TIMEOUT);
        assert_eq!(lc.phase(), Phase::Done);
        assert_eq!(lc.take_report(), report(1002, "bad frame", false));
    }
}

#[test]
fn close_timeout_while_flushing_keeps_the_report() {
    let (mut lc, base) = ws();
    lc.on_peer_close(Some(frame(1001, "gone")), base);
    lc.handle_timeout(base + CLOSE_TIMEOUT);
    assert_eq!(lc.phase(), Phase::Done);
    assert_eq!(lc.take_report(), report(1001, "gone", true));

    let (mut lc, base) = lines();
    lc.on_eof(base);
    lc.handle_timeout(base + CLOSE_TIMEOUT);
    assert_eq!(lc.phase(), Phase::Done);
    assert_eq!(lc.take_report(), report(1000, "", true));
}

#[test]
fn closing_replaces_the_keep_alive_deadline() {
    for framing in BOTH {
        let (mut lc, base) = keep_alive(framing);
        lc.close(frame(1000, ""), secs(base, 1));
        assert_eq!(lc.poll_timeout(), Some(secs(base, 1) + CLOSE_TIMEOUT));
        // Silence past the old keep-alive deadline never pings.
        lc.handle_timeout(secs(base, 1) + CLOSE_TIMEOUT);
        assert!(!actions(&mut lc).contains(&Action::SendPing));
        assert_eq!(lc.phase(), Phase::Done);
    }
}

#[test]
fn activity_keeps_the_connection_alive_without_pings() {
    for framing in BOTH {
        let (mut lc, base) = keep_alive(framing);
        let mut now = base;
        for _ in 0..5 {
            lc.on_activity();
            now += INTERVAL;
            assert_eq!(lc.poll_timeout(), Some(now));
            lc.handle_timeout(now);
            assert!(actions(&mut lc).is_empty());
            assert_eq!(lc.phase(), Phase::Open);
        }
        assert_eq!(lc.poll_timeout(), Some(now + INTERVAL));
    }
}

#[test]
fn silence_pings_then_times_out_at_interval_plus_timeout() {
    for framing in BOTH {
        let (mut lc, base) = keep_alive(framing);
        lc.handle_timeout(base + INTERVAL);
        assert_eq!(actions(&mut lc), [Action::SendPing]);
        assert_eq!(lc.phase(), Phase::Open);
        assert_eq!(lc.poll_timeout(), Some(base + INTERVAL + PONG_TIMEOUT));

        lc.handle_timeout(just_before(base + INTERVAL + PONG_TIMEOUT));
        assert!(actions(&mut lc).is_empty());
        assert_eq!(lc.phase(), Phase::Open);

        lc.handle_timeout(base + INTERVAL + PONG_TIMEOUT);
        assert_eq!(actions(&mut lc), [Action::KeepAliveTimedOut(PONG_TIMEOUT), Action::StopSends]);
        assert_eq!(lc.phase(), Phase::Done);
        assert_eq!(lc.poll_timeout(), None);
        assert_eq!(lc.take_report(), abnormal("keep-alive timeout"));
    }
}

#[test]
fn an_answer_to_the_ping_resets_the_cycle() {
    let (mut lc, base) = keep_alive(Framing::WebSocket);
    lc.handle_timeout(base + INTERVAL);
    assert_eq!(actions(&mut lc), [Action::SendPing]);
    // The pong is bytes from the peer; the timer is not moved by it, only checked later.
    lc.on_activity();
    assert_eq!(lc.poll_timeout(), Some(base + INTERVAL + PONG_TIMEOUT));
    let check = base + INTERVAL + PONG_TIMEOUT;
    lc.handle_timeout(check);
    assert!(actions(&mut lc).is_empty());
    assert_eq!(lc.poll_timeout(), Some(check + INTERVAL));
    // Silence again: a fresh ping, not a timeout.
    lc.handle_timeout(check + INTERVAL);
    assert_eq!(actions(&mut lc), [Action::SendPing]);
    assert_eq!(lc.phase(), Phase::Open);
}

#[test]
fn a_late_timer_counts_the_next_deadline_from_now() {
    let (mut lc, base) = keep_alive(Framing::WebSocket);
    let late = base + INTERVAL + Duration::from_secs(7);
    lc.handle_timeout(late);
    assert_eq!(actions(&mut lc), [Action::SendPing]);
    assert_eq!(lc.poll_timeout(), Some(late + PONG_TIMEOUT));
}

#[test]
fn timeout_before_the_deadline_does_nothing() {
    for framing in BOTH {
        for phase in ALL_PHASES {
            if framing == Framing::Lines && phase == Phase::Closing {
                continue;
            }
            let base = Instant::now();
            let mut lc = Lifecycle::new(config(framing, true), base);
            match phase {
                Phase::Open => {}
                Phase::Closing => lc.close(frame(1000, ""), base),
                Phase::Failing => {
                    lc.fail(Failure::Protocol, CloseCode::PROTOCOL_ERROR, "", base);
                }
                Phase::Flushing => lc.on_eof(base),
                Phase::Done => lc.abort(),
            }
            actions(&mut lc);
            let before = format!("{lc:?}");
            for early in [base, base + Duration::from_secs(4), just_before(base + CLOSE_TIMEOUT)] {
                lc.handle_timeout(early);
                assert_eq!(format!("{lc:?}"), before, "{framing:?} {phase:?}");
            }
        }
    }
}

#[test]
fn open_without_keep_alive_has_no_deadline() {
    let (mut lc, base) = ws();
    lc.on_activity();
    lc.handle_timeout(secs(base, 3600));
    assert_eq!(lc.phase(), Phase::Open);
    assert_eq!(lc.poll_timeout(), None);
    assert!(actions(&mut lc).is_empty());
}

#[test]
fn report_without_an_ending_is_connection_ended() {
    let (mut lc, _) = ws();
    assert_eq!(lc.take_report(), abnormal("connection ended"));
}

#[test]
fn deadlines_that_overflow_an_instant_are_never() {
    let base = Instant::now();
    let config =
        LifecycleConfig { close_timeout: Duration::MAX, keep_alive: None, framing: Framing::WebSocket };
    let mut lc = Lifecycle::new(config, base);
    lc.close(frame(1000, ""), base);
    assert_eq!(lc.poll_timeout(), None);
    assert_eq!(lc.phase(), Phase::Closing);
}

#[test]
fn stays_small_enough_to_carry_per_connection() {
    // Every open connection holds one.
    assert!(std::mem::size_of::<Lifecycle>() <= 72, "{}", std::mem::size_of::<Lifecycle>());
}

#[test]
fn config_reads_back_as_given() {
    for config in [
        config(Framing::WebSocket, true),
        config(Framing::Lines, false),
        LifecycleConfig {
            close_timeout: Duration::MAX,
            keep_alive: Some((Duration::MAX, Duration::ZERO)),
            framing: Framing::WebSocket,
        },
        LifecycleConfig {
            close_timeout: Duration::from_nanos(1),
            keep_alive: Some((Duration::from_millis(300), Duration::from_millis(200))),
            framing: Framing::Lines,
        },
    ] {
        assert_eq!(Lifecycle::new(config, Instant::now()).config(), config);
    }
}
