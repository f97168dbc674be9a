//! The send-side half of timer messages: decide whether a message about to be stored is a
//! timer message and, if its time is still ahead, park it in `rmq_sys_wheel_timer` (Java's
//! `HookUtils.handleScheduleMessage` / `transformTimerMessage`, broker 5.x).
//!
//! Every broker put path that stores a producer's message calls this (send, transaction
//! commit, reply, send-back, and the gRPC endpoint through [`super::TimerService::intercept`]);
//! it is pure apart from the clock and the slot population passed in.

use mq_common::message::property::{
    self, DELAY, REAL_QID, REAL_TOPIC, START_DELIVER_TIME, TIMER_DELAY_MS, TIMER_DELAY_SEC,
    TIMER_DELIVER_MS, TIMER_DEL_UNIQKEY, TIMER_OUT_MS,
};
use mq_common::message::sysflag::{self, TRANSACTION_COMMIT_TYPE, TRANSACTION_NOT_TYPE};
use mq_common::message::MessageExtBrokerInner;
use mq_common::protocol::body::system_topics::WHEEL_TIMER_TOPIC;
use mq_common::protocol::codes::response;

use super::config::TimerConfig;

/// Why a timer message was refused, with Java's response code and remark
/// (`SendMessageProcessor.handlePutMessageResult`, `EndTransactionProcessor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimerReject {
    /// `timerWheelEnable=false` (Java WHEEL_TIMER_NOT_ENABLE).
    #[error("accurate timer message is not enabled, timerWheelEnable is false")]
    NotEnabled,
    /// Unparsable time, beyond `timerMaxDelaySec`, or a recall marker for a time already
    /// passed (Java WHEEL_TIMER_MSG_ILLEGAL).
    #[error("timer message illegal, the delay time should not be bigger than the max delay {max_delay_ms}ms; or if set del msg, the delay time should be bigger than the current time")]
    Illegal {
        /// `timerMaxDelaySec` in ms, quoted in the remark.
        max_delay_ms: i64,
    },
    /// The target slot is over `timerCongestNumEachSlot` (Java WHEEL_TIMER_FLOW_CONTROL).
    #[error("timer message is under flow control, max num limit is {} or the current value is greater than {congest} and less than {}, trigger random flow control", .congest * 2, .congest * 2)]
    FlowControl {
        /// `timerCongestNumEachSlot`.
        congest: i64,
    },
}

impl TimerReject {
    /// The remoting response code Java answers with.
    pub fn code(&self) -> i32 {
        match self {
            TimerReject::Illegal { .. } => response::MESSAGE_ILLEGAL,
            TimerReject::NotEnabled | TimerReject::FlowControl { .. } => response::SYSTEM_ERROR,
        }
    }
}

/// What [`intercept`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intercepted {
    /// No timer property (or one the timer has already handled): stored as it is.
    NotTimer,
    /// A delay level is set too: the level wins and the timer properties were removed (Java).
    DelayLevelWins,
    /// The delivery time has already passed: stored to its topic at once, properties kept.
    DueNow,
    /// Rewritten into `rmq_sys_wheel_timer` to be delivered at `deliver_ms`.
    Scheduled {
        /// Requested delivery time, ms.
        deliver_ms: i64,
    },
}

/// The delivery time a message asks for, by Java's priority: `TIMER_DELAY_SEC`, then
/// `TIMER_DELAY_MS` (both relative to `base_ms`), then `TIMER_DELIVER_MS`, then Aliyun's
/// `__STARTDELIVERTIME`. `Ok(None)`: no timer property; `Err(())`: not a number, or the sum
/// overflows (Java would wrap around into the past; we refuse).
pub(crate) fn requested_deliver_ms(props: &str, base_ms: i64) -> Result<Option<i64>, ()> {
    let [sec, ms, at, start] = property::get_properties(
        props,
        [TIMER_DELAY_SEC, TIMER_DELAY_MS, TIMER_DELIVER_MS, START_DELIVER_TIME],
    );
    let num = |v: &str| v.parse::<i64>().map_err(|_| ());
    if let Some(s) = sec {
        return num(s)?.checked_mul(1000).and_then(|d| base_ms.checked_add(d)).ok_or(()).map(Some);
    }
    if let Some(m) = ms {
        return base_ms.checked_add(num(m)?).ok_or(()).map(Some);
    }
    match at.or(start) {
        Some(v) => num(v).map(Some),
        None => Ok(None),
    }
}

/// Cheap pre-check run on every send: can `props` hold a timer property at all? Two
/// substring searches over the properties string; the full parse runs only when one hits.
pub(crate) fn may_be_timer(props: &str) -> bool {
    props.contains("TIMER_") || props.contains(START_DELIVER_TIME)
}

/// Java's `TIMER_OUT_MS`: the delivery time rounded down to the precision, one step lower when
/// it is already a multiple (Java's wheel then fires that slot one step later, i.e. at the
/// first boundary at or after the requested time).
pub(crate) fn timer_out_ms(deliver_ms: i64, precision_ms: i64) -> i64 {
    if deliver_ms.rem_euclid(precision_ms) == 0 {
        deliver_ms - precision_ms
    } else {
        deliver_ms.div_euclid(precision_ms) * precision_ms
    }
}

/// Java's random flow control for a slot holding `num` timers.
fn congested(num: i64, congest: i64) -> bool {
    if num <= congest {
        return false;
    }
    if num >= congest.saturating_mul(2) {
        return true;
    }
    let over = 1000.0 * (num - congest) as f64 / (congest as f64 + 0.1);
    (rand::random_range(0..1000) as f64) > over
}

/// Apply the timer properties of `msg` at time `now` (see the module docs).
/// `slot_population(deliver_ms)` is consulted only when flow control is configured.
pub fn intercept(
    cfg: &TimerConfig,
    now: i64,
    msg: &mut MessageExtBrokerInner,
    slot_population: impl FnOnce(i64) -> i64,
) -> Result<Intercepted, TimerReject> {
    let tran = sysflag::transaction_value(msg.sys_flag);
    if (tran != TRANSACTION_NOT_TYPE && tran != TRANSACTION_COMMIT_TYPE)
        || !may_be_timer(&msg.properties)
    {
        return Ok(Intercepted::NotTimer);
    }
    let [delay, out, del, real_topic, real_qid] = property::get_properties(
        &msg.properties,
        [DELAY, TIMER_OUT_MS, TIMER_DEL_UNIQKEY, REAL_TOPIC, REAL_QID],
    );
    // A client-set REAL_* is replaced below (Java's putProperty); otherwise a plain append.
    let replace_real = real_topic.is_some() || real_qid.is_some();
    if delay.and_then(|d| d.parse::<i32>().ok()).is_some_and(|l| l > 0) {
        // Java clears exactly these three (not Aliyun's key, which it does not know).
        let mut removed = false;
        for k in [TIMER_DELIVER_MS, TIMER_DELAY_SEC, TIMER_DELAY_MS] {
            removed |= msg.remove_property(k);
        }
        return Ok(if removed { Intercepted::DelayLevelWins } else { Intercepted::NotTimer });
    }
    // Already handled by the timer (a delivered copy being re-sent or sent back).
    if msg.topic == WHEEL_TIMER_TOPIC || out.is_some() {
        return Ok(Intercepted::NotTimer);
    }
    let has_del = del.is_some();
    let illegal = TimerReject::Illegal { max_delay_ms: cfg.max_delay_ms() };
    let requested = requested_deliver_ms(&msg.properties, now);
    if requested == Ok(None) {
        return Ok(Intercepted::NotTimer);
    }
    if !cfg.enable {
        return Err(TimerReject::NotEnabled);
    }
    let Ok(Some(deliver_ms)) = requested else { return Err(illegal) };
    if deliver_ms <= now {
        return if has_del { Err(illegal) } else { Ok(Intercepted::DueNow) };
    }
    if deliver_ms - now > cfg.max_delay_ms() {
        return Err(illegal);
    }
    if cfg.congest_num_each_slot.get() < i32::MAX as i64
        && congested(slot_population(deliver_ms), cfg.congest_num_each_slot.get())
    {
        return Err(TimerReject::FlowControl { congest: cfg.congest_num_each_slot.get() });
    }
    let out_ms = timer_out_ms(deliver_ms, cfg.precision_ms()).to_string();
    let qid = msg.queue_id.to_string();
    let real_topic = std::mem::replace(&mut msg.topic, WHEEL_TIMER_TOPIC.to_owned());
    let p = &mut msg.properties;
    p.reserve(TIMER_OUT_MS.len() + REAL_TOPIC.len() + REAL_QID.len() + real_topic.len() + 40);
    let put = if replace_real { property::set_property } else { property::append_property };
    property::append_property(p, TIMER_OUT_MS, &out_ms);
    put(p, REAL_TOPIC, &real_topic);
    put(p, REAL_QID, &qid);
    msg.queue_id = 0;
    Ok(Intercepted::Scheduled { deliver_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_common::message::encode_properties;
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000_123;

    fn msg(props: &[(&str, &str)]) -> MessageExtBrokerInner {
        MessageExtBrokerInner {
            topic: "T".into(),
            queue_id: 3,
            properties: encode_properties(props.iter().copied()),
            ..Default::default()
        }
    }

    fn run(props: &[(&str, &str)]) -> (Result<Intercepted, TimerReject>, MessageExtBrokerInner) {
        let mut m = msg(props);
        let r = intercept(&TimerConfig::default(), NOW, &mut m, |_| 0);
        (r, m)
    }

    #[test]
    fn plain_messages_are_untouched() {
        let (r, m) = run(&[("TAGS", "a"), ("KEYS", "k")]);
        assert_eq!(r, Ok(Intercepted::NotTimer));
        assert_eq!(m, msg(&[("TAGS", "a"), ("KEYS", "k")]));
        // A user key that merely contains the word is parsed and left alone.
        let (r, _) = run(&[("MY_TIMER_X", "1")]);
        assert_eq!(r, Ok(Intercepted::NotTimer));
    }

    #[test]
    fn each_property_schedules() {
        for (k, v, at) in [
            (TIMER_DELAY_SEC, "10", NOW + 10_000),
            (TIMER_DELAY_MS, "1500", NOW + 1500),
            (TIMER_DELIVER_MS, "1700000005000", 1_700_000_005_000),
            (START_DELIVER_TIME, "1700000005001", 1_700_000_005_001),
        ] {
            let (r, m) = run(&[(k, v), ("TAGS", "a")]);
            assert_eq!(r, Ok(Intercepted::Scheduled { deliver_ms: at }), "{k}");
            assert_eq!(m.topic, WHEEL_TIMER_TOPIC);
            assert_eq!(m.queue_id, 0);
            assert_eq!(m.property(REAL_TOPIC), Some("T"));
            assert_eq!(m.property(REAL_QID), Some("3"));
            assert_eq!(m.property(k), Some(v), "the request's property is kept");
            assert_eq!(m.property(TIMER_OUT_MS), Some(timer_out_ms(at, 1000).to_string().as_str()));
        }
    }

    #[test]
    fn client_set_real_topic_is_replaced() {
        let (r, m) = run(&[(REAL_TOPIC, "Evil"), (TIMER_DELAY_SEC, "1")]);
        assert!(matches!(r, Ok(Intercepted::Scheduled { .. })));
        assert_eq!(m.property(REAL_TOPIC), Some("T"));
        assert_eq!(mq_common::message::decode_properties(&m.properties).len(), 4);
    }

    #[test]
    fn java_priority_and_rounding() {
        // DELAY_SEC beats DELIVER_MS.
        let (r, _) = run(&[(TIMER_DELIVER_MS, "1"), (TIMER_DELAY_SEC, "2")]);
        assert_eq!(r, Ok(Intercepted::Scheduled { deliver_ms: NOW + 2000 }));
        assert_eq!(timer_out_ms(5000, 1000), 4000);
        assert_eq!(timer_out_ms(5001, 1000), 5000);
        assert_eq!(timer_out_ms(5999, 1000), 5000);
    }

    #[test]
    fn past_times_deliver_now_with_properties_kept() {
        let (r, m) = run(&[(TIMER_DELIVER_MS, "5")]);
        assert_eq!(r, Ok(Intercepted::DueNow));
        assert_eq!(m.topic, "T");
        assert_eq!(m.property(TIMER_DELIVER_MS), Some("5"));
        assert_eq!(run(&[(TIMER_DELAY_SEC, "-3")]).0, Ok(Intercepted::DueNow));
        assert_eq!(run(&[(TIMER_DELAY_MS, "0")]).0, Ok(Intercepted::DueNow));
    }

    #[test]
    fn refusals_carry_javas_codes() {
        let illegal = Err(TimerReject::Illegal { max_delay_ms: 259_200_000 });
        assert_eq!(run(&[(TIMER_DELAY_SEC, "259201")]).0, illegal);
        assert_eq!(run(&[(TIMER_DELAY_SEC, "259200")]).0.map(|_| ()), Ok(()));
        assert_eq!(run(&[(TIMER_DELAY_MS, "abc")]).0, illegal);
        assert_eq!(run(&[(TIMER_DELAY_SEC, " 5")]).0, illegal, "Long.parseLong takes no spaces");
        assert_eq!(run(&[(TIMER_DELAY_SEC, &i64::MAX.to_string())]).0, illegal, "no wrap-around");
        assert_eq!(run(&[(TIMER_DELIVER_MS, "1"), (TIMER_DEL_UNIQKEY, "x")]).0, illegal);
        let e = TimerReject::Illegal { max_delay_ms: 259_200_000 };
        assert_eq!(e.code(), response::MESSAGE_ILLEGAL);
        assert_eq!(e.to_string(), "timer message illegal, the delay time should not be bigger than the max delay 259200000ms; or if set del msg, the delay time should be bigger than the current time");
        let off = TimerConfig { enable: false, ..TimerConfig::default() };
        let mut m = msg(&[(TIMER_DELIVER_MS, "1")]);
        let r = intercept(&off, NOW, &mut m, |_| 0);
        assert_eq!(r, Err(TimerReject::NotEnabled), "refused even when already due");
        assert_eq!(TimerReject::NotEnabled.code(), response::SYSTEM_ERROR);
        let mut plain = msg(&[("TAGS", "x")]);
        assert_eq!(intercept(&off, NOW, &mut plain, |_| 0), Ok(Intercepted::NotTimer));
    }

    #[test]
    fn flow_control_when_configured() {
        let mut cfg = TimerConfig::default();
        mq_common::config::ConfigKeys::apply(&mut cfg, "timerCongestNumEachSlot", "10").unwrap();
        let mut m = msg(&[(TIMER_DELAY_SEC, "5")]);
        assert_eq!(
            intercept(&cfg, NOW, &mut m, |_| 20),
            Err(TimerReject::FlowControl { congest: 10 })
        );
        let mut m = msg(&[(TIMER_DELAY_SEC, "5")]);
        assert!(intercept(&cfg, NOW, &mut m, |_| 10).is_ok());
        assert_eq!(TimerReject::FlowControl { congest: 10 }.to_string(), "timer message is under flow control, max num limit is 20 or the current value is greater than 10 and less than 20, trigger random flow control");
    }

    #[test]
    fn delay_level_wins_and_handled_messages_pass() {
        let (r, m) = run(&[(DELAY, "3"), (TIMER_DELAY_SEC, "10"), (START_DELIVER_TIME, "9")]);
        assert_eq!(r, Ok(Intercepted::DelayLevelWins));
        assert_eq!(m.topic, "T");
        assert_eq!(m.property(TIMER_DELAY_SEC), None);
        assert_eq!(m.property(START_DELIVER_TIME), Some("9"));
        let (r, m) = run(&[(TIMER_OUT_MS, "1"), (TIMER_DELAY_SEC, "10")]);
        assert_eq!(r, Ok(Intercepted::NotTimer));
        assert_eq!(m.topic, "T");
        // Half messages are timed when committed, not when stored.
        let mut half = msg(&[(TIMER_DELAY_SEC, "10")]);
        half.sys_flag = sysflag::TRANSACTION_PREPARED_TYPE;
        assert_eq!(
            intercept(&TimerConfig::default(), NOW, &mut half, |_| 0),
            Ok(Intercepted::NotTimer)
        );
    }

    proptest! {
        /// Java's TIMER_OUT_MS slot fires at `out + precision`: never before the requested
        /// time and less than one precision step after it.
        #[test]
        fn out_ms_fires_within_one_step(t in -1_000_000_000i64..4_000_000_000_000, pi in 0usize..4) {
            let p = [100i64, 200, 500, 1000][pi];
            let out = timer_out_ms(t, p);
            prop_assert_eq!(out.rem_euclid(p), 0);
            prop_assert!(out + p >= t);
            prop_assert!(out + p < t + p);
        }

        /// Whatever the properties, intercept either leaves the message alone, or moves it to
        /// the timer topic with the real topic/queue saved, or refuses it; it never panics.
        #[test]
        fn intercept_is_total(v in "[-+0-9a-z ]{0,22}", key in 0usize..5, delay in proptest::option::of(-2i32..3)) {
            let keys = [TIMER_DELAY_SEC, TIMER_DELAY_MS, TIMER_DELIVER_MS, START_DELIVER_TIME, "TAGS"];
            let mut props = vec![(keys[key], v.as_str())];
            let d = delay.map(|d| d.to_string());
            if let Some(d) = &d { props.push((DELAY, d.as_str())); }
            let (r, m) = run(&props);
            match r {
                Ok(Intercepted::Scheduled { deliver_ms }) => {
                    prop_assert!(deliver_ms > NOW && deliver_ms - NOW <= 259_200_000);
                    prop_assert_eq!(m.topic.as_str(), WHEEL_TIMER_TOPIC);
                    prop_assert_eq!(m.property(REAL_TOPIC), Some("T"));
                }
                Ok(_) => prop_assert_eq!(m.topic.as_str(), "T"),
                Err(e) => prop_assert!(matches!(e, TimerReject::Illegal { .. }), "{:?}", e),
            }
        }
    }
}
