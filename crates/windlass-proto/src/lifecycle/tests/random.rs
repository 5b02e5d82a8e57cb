//! Random inputs at non-decreasing times: the invariants the I/O layer relies on.

use proptest::prelude::*;

use super::*;

#[derive(Clone, Debug)]
enum Input {
    Activity,
    PeerClose(Option<u16>),
    Close(u16),
    Fail(bool),
    Overflow,
    Eof,
    IoError,
    Flushed(bool),
    Abort,
    /// Advance to the deadline (if any) and handle it.
    Deadline,
    /// Handle a timeout at the current time, whatever the deadline.
    Tick,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => Just(Input::Activity),
        1 => proptest::option::of(prop_oneof![Just(1000_u16), Just(1001), Just(4000)]).prop_map(Input::PeerClose),
        1 => prop_oneof![Just(1000_u16), Just(1001), Just(4321)].prop_map(Input::Close),
        1 => any::<bool>().prop_map(Input::Fail),
        1 => Just(Input::Overflow),
        1 => Just(Input::Eof),
        1 => Just(Input::IoError),
        1 => any::<bool>().prop_map(Input::Flushed),
        1 => Just(Input::Abort),
        4 => Just(Input::Deadline),
        2 => Just(Input::Tick),
    ]
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![Just(Framing::WebSocket), Just(Framing::Lines)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_inputs_keep_the_invariants(
        framing in framing(),
        keep_alive in any::<bool>(),
        steps in proptest::collection::vec((0_u64..20_000, input()), 0..40),
    ) {
        let base = Instant::now();
        let mut lc = Lifecycle::new(config(framing, keep_alive), base);
        let mut now = base;
        let mut close_frames = 0;
        let mut stop_sends = 0;
        let mut finishes = 0;
        for (millis, input) in steps {
            now += Duration::from_millis(millis);
            let before = lc.clone();
            let deadline = lc.poll_timeout();
            match input {
                Input::Activity => lc.on_activity(),
                Input::PeerClose(code) => lc.on_peer_close(code.map(|c| frame(c, "peer")), now),
                Input::Close(code) => lc.close(frame(code, "ours"), now),
                Input::Fail(protocol) => {
                    let failure = if protocol { Failure::Protocol } else { Failure::Component };
                    let taken = lc.fail(failure, CloseCode::PROTOCOL_ERROR, "oops", now);
                    prop_assert_eq!(taken, matches!(before.phase(), Phase::Open | Phase::Closing));
                }
                Input::Overflow => lc.overflow(now),
                Input::Eof => lc.on_eof(now),
                Input::IoError => {
                    let was_open = lc.on_io_error();
                    prop_assert_eq!(was_open, before.phase() == Phase::Open);
                }
                Input::Flushed(tls) => lc.on_flushed(tls),
                Input::Abort => lc.abort(),
                Input::Deadline => {
                    if let Some(deadline) = deadline {
                        now = now.max(deadline);
                    }
                    lc.handle_timeout(now);
                }
                Input::Tick => lc.handle_timeout(now),
            }
            let emitted = actions(&mut lc);

            // Before its deadline, time changes nothing.
            if matches!(input, Input::Deadline | Input::Tick) && deadline.is_none_or(|d| now < d) {
                prop_assert_eq!(format!("{lc:?}"), format!("{before:?}"));
            }
            // Done is terminal and silent.
            if before.phase() == Phase::Done {
                prop_assert_eq!(lc.phase(), Phase::Done);
                prop_assert!(emitted.is_empty());
            }
            // Closing never ends.
            if before.is_closing() {
                prop_assert!(lc.is_closing());
            }
            // Entering a closing phase from a reading one starts the close timeout now (Failing to
            // Flushing on EOF keeps it; no overflow here, the close timeout is small).
            if lc.phase() != before.phase()
                && matches!(lc.phase(), Phase::Closing | Phase::Failing | Phase::Flushing)
                && before.phase() != Phase::Failing
            {
                prop_assert_eq!(lc.poll_timeout(), Some(now + CLOSE_TIMEOUT));
            }
            match lc.phase() {
                Phase::Done => prop_assert_eq!(lc.poll_timeout(), None),
                Phase::Open => prop_assert_eq!(lc.poll_timeout().is_some(), keep_alive),
                _ => prop_assert!(lc.poll_timeout().is_some()),
            }
            // A deadline handled is replaced by one not yet passed.
            if matches!(input, Input::Deadline | Input::Tick) {
                prop_assert!(lc.poll_timeout().is_none_or(|d| d > now));
            }
            for action in &emitted {
                match action {
                    Action::SendClose(_) => {
                        close_frames += 1;
                        prop_assert_eq!(framing, Framing::WebSocket);
                        prop_assert_eq!(before.phase(), Phase::Open);
                    }
                    Action::SendPing => {
                        prop_assert!(keep_alive);
                        prop_assert_eq!(lc.phase(), Phase::Open);
                    }
                    Action::StopSends => stop_sends += 1,
                    Action::Finish { .. } => {
                        finishes += 1;
                        prop_assert!(matches!(before.phase(), Phase::Failing | Phase::Flushing));
                        prop_assert_eq!(lc.phase(), Phase::Done);
                    }
                    Action::DiscardQueue | Action::SlowConsumer => {
                        prop_assert_eq!(before.phase(), Phase::Open);
                    }
                    Action::DiscardInput => prop_assert_eq!(lc.phase(), Phase::Failing),
                    Action::KeepAliveTimedOut(timeout) => {
                        prop_assert_eq!(*timeout, PONG_TIMEOUT);
                        prop_assert_eq!(lc.phase(), Phase::Done);
                    }
                }
            }
            prop_assert!(close_frames <= 1);
            prop_assert!(finishes <= 1);
            // StopSends exactly once, as the connection leaves Open.
            prop_assert_eq!(stop_sends, usize::from(lc.is_closing()));
        }
        let report = lc.clone().take_report();
        prop_assert!(report.code != CloseCode::ABNORMAL || !report.clean);
        if lc.phase() == Phase::Open {
            prop_assert_eq!(report, abnormal("connection ended"));
        }
    }
}
