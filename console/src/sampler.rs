//! Background TPS sampler: every few seconds it reads running totals (brokers' put/get counters,
//! topics' offset sums) and keeps the differences as rates for the last hour, so the overview
//! charts show live TPS without the broker keeping history for us.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use mq_common::protocol::now_millis;
use parking_lot::Mutex;
use serde::Serialize;

use crate::backend::{Backend, TotalsSample};

/// How much history is kept.
pub const HISTORY: Duration = Duration::from_secs(3600);

/// One sampled point.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Sample time, ms.
    pub t: i64,
    /// Broker label → (in TPS, out TPS).
    pub brokers: BTreeMap<String, (f64, f64)>,
    /// Topic → in TPS.
    pub topics: BTreeMap<String, f64>,
}

#[derive(Default)]
struct State {
    prev: Option<(i64, TotalsSample)>,
    points: VecDeque<Point>,
    last_error: Option<String>,
    runs: u64,
    errors: u64,
}

/// TPS series for the charts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TpsSeries {
    /// Sampling interval, seconds.
    pub interval_secs: u64,
    /// Sample times, ms.
    pub times: Vec<i64>,
    /// Broker label → in TPS per time.
    pub broker_in: BTreeMap<String, Vec<Option<f64>>>,
    /// Broker label → out TPS per time.
    pub broker_out: BTreeMap<String, Vec<Option<f64>>>,
    /// Busiest topics (by latest rate) → in TPS per time.
    pub topics: BTreeMap<String, Vec<Option<f64>>>,
    /// Last sampling error, if the latest run failed.
    pub last_error: Option<String>,
}

/// The sampler.
pub struct Sampler {
    state: Mutex<State>,
    interval: Duration,
    max_topics: usize,
}

impl Sampler {
    /// A sampler with this interval.
    pub fn new(interval: Duration) -> Self {
        Sampler { state: Mutex::new(State::default()), interval, max_topics: 200 }
    }

    /// Points kept (one hour of samples).
    fn capacity(&self) -> usize {
        (HISTORY.as_secs() / self.interval.as_secs().max(1)) as usize + 1
    }

    /// Take one sample now.
    pub async fn sample_once(&self, backend: &dyn Backend) {
        let res = tokio::time::timeout(
            self.interval.max(Duration::from_secs(2)) * 2,
            backend.sample_totals(self.max_topics),
        )
        .await;
        let now = now_millis();
        let mut st = self.state.lock();
        st.runs += 1;
        let sample = match res {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                st.errors += 1;
                st.last_error = Some(e.to_string());
                return;
            }
            Err(_) => {
                st.errors += 1;
                st.last_error = Some("sampling timed out".into());
                return;
            }
        };
        st.last_error = None;
        if let Some((pt, prev)) = &st.prev {
            let dt = ((now - pt) as f64 / 1000.0).max(0.001);
            let rate = |a: i64, b: i64| ((a - b).max(0) as f64) / dt;
            let brokers = sample
                .brokers
                .iter()
                .filter_map(|(k, (p, g))| {
                    prev.brokers.get(k).map(|(pp, pg)| (k.clone(), (rate(*p, *pp), rate(*g, *pg))))
                })
                .collect();
            let topics = sample
                .topics
                .iter()
                .filter_map(|(k, v)| prev.topics.get(k).map(|pv| (k.clone(), rate(*v, *pv))))
                .collect();
            let cap = self.capacity();
            st.points.push_back(Point { t: now, brokers, topics });
            while st.points.len() > cap {
                st.points.pop_front();
            }
        }
        st.prev = Some((now, sample));
    }

    /// Run forever (until the task is aborted).
    pub fn spawn(self: &Arc<Self>, backend: Arc<dyn Backend>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                me.sample_once(backend.as_ref()).await;
            }
        })
    }

    /// Latest broker rates (label → (in, out)).
    pub fn latest_brokers(&self) -> BTreeMap<String, (f64, f64)> {
        self.state.lock().points.back().map(|p| p.brokers.clone()).unwrap_or_default()
    }

    /// Latest topic rates.
    pub fn latest_topics(&self) -> BTreeMap<String, f64> {
        self.state.lock().points.back().map(|p| p.topics.clone()).unwrap_or_default()
    }

    /// (runs, errors).
    pub fn counters(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.runs, st.errors)
    }

    /// Series for the charts: every broker and the `top` busiest topics.
    pub fn series(&self, top: usize) -> TpsSeries {
        let st = self.state.lock();
        let times: Vec<i64> = st.points.iter().map(|p| p.t).collect();
        let mut broker_in: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let mut broker_out: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
        let labels: std::collections::BTreeSet<String> =
            st.points.iter().flat_map(|p| p.brokers.keys().cloned()).collect();
        for l in labels {
            broker_in.insert(
                l.clone(),
                st.points.iter().map(|p| p.brokers.get(&l).map(|x| x.0)).collect(),
            );
            broker_out.insert(
                l.clone(),
                st.points.iter().map(|p| p.brokers.get(&l).map(|x| x.1)).collect(),
            );
        }
        // Busiest topics over the last few points (ties broken by name for stable output).
        let mut score: BTreeMap<String, f64> = BTreeMap::new();
        for p in st.points.iter().rev().take(12) {
            for (t, v) in &p.topics {
                *score.entry(t.clone()).or_default() += v;
            }
        }
        let mut ranked: Vec<(String, f64)> = score.into_iter().filter(|(_, v)| *v > 0.0).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let topics = ranked
            .into_iter()
            .take(top)
            .map(|(t, _)| {
                (t.clone(), st.points.iter().map(|p| p.topics.get(&t).copied()).collect())
            })
            .collect();
        TpsSeries {
            interval_secs: self.interval.as_secs(),
            times,
            broker_in,
            broker_out,
            topics,
            last_error: st.last_error.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::FakeBackend;

    #[tokio::test]
    async fn rates_from_totals() {
        let fb = FakeBackend::demo();
        let s = Sampler::new(Duration::from_secs(5));
        s.sample_once(&fb).await;
        assert!(s.series(5).times.is_empty(), "first sample only sets the baseline");
        s.sample_once(&fb).await;
        let series = s.series(5);
        assert_eq!(series.times.len(), 1);
        assert_eq!(series.broker_in.len(), 2);
        assert!(series.broker_in.values().all(|v| v[0].unwrap() > 0.0));
        assert!(!series.topics.is_empty());
    }
}
