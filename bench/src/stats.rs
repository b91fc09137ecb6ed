//! Latency samples and what the report quotes of them.

use std::time::Duration;

/// Latencies of one path (direct or through a gateway), pooled over rounds, and
/// the throughput of each round.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    nanos: Vec<u64>,
    rates: Vec<f64>,
    cpu: Vec<f64>,
}

impl Samples {
    /// Adds one latency.
    pub fn push(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds a round's latencies.
    pub fn absorb(&mut self, round: Samples) {
        self.nanos.extend(round.nanos);
    }

    /// Adds a round's throughput only.
    pub fn rate(&mut self, rate: f64) {
        self.rates.push(rate);
    }

    /// Adds a round's CPU time per operation, in microseconds.
    pub fn cpu(&mut self, micros: f64) {
        self.cpu.push(micros);
    }

    /// How many latencies were kept.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// Whether no latency was kept.
    pub fn is_empty(&self) -> bool {
        self.nanos.is_empty()
    }

    /// The latency percentiles the report quotes.
    pub fn summary(&self) -> Summary {
        let mut v = self.nanos.clone();
        v.sort_unstable();
        let at = |q: f64| -> Duration {
            if v.is_empty() {
                return Duration::ZERO;
            }
            // Nearest rank: the smallest sample with at least q of them at or below it.
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            Duration::from_nanos(v[rank - 1])
        };
        Summary {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: at(1.0),
            count: v.len(),
            rate: median(&self.rates),
            cpu_us: median(&self.cpu),
        }
    }
}

/// Percentiles of a [`Samples`], and the median throughput of its rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Median latency.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Slowest.
    pub max: Duration,
    /// How many latencies.
    pub count: usize,
    /// Median over rounds of operations per second (0 when not measured).
    pub rate: f64,
    /// Median over rounds of the CPU time per operation of the path's own process, in
    /// microseconds (0 when not measured).
    pub cpu_us: f64,
}

/// The median of some figures (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `d` in milliseconds with three decimals, as the tables show latencies.
pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1e3)
}

/// What the gateway adds to `direct`, in milliseconds (negative when faster).
pub fn added_ms(gateway: Duration, direct: Duration) -> String {
    let delta = gateway.as_secs_f64() - direct.as_secs_f64();
    format!("{:+.3}", delta * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        for i in 1..=100 {
            s.push(Duration::from_micros(i));
        }
        let sum = s.summary();
        assert_eq!(sum.p50, Duration::from_micros(50));
        assert_eq!(sum.p90, Duration::from_micros(90));
        assert_eq!(sum.p99, Duration::from_micros(99));
        assert_eq!(sum.max, Duration::from_micros(100));
        assert_eq!(sum.count, 100);
    }

    #[test]
    fn median_of_rounds() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
