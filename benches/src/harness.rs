//! Interleaved repetitions: warm up every runtime once, then run
//! tern, tokio, smol, tern, tokio, smol, ... and summarize each column.

use crate::report::{Better, Metric, Reading, Target};

/// What one repetition of one case measured.
#[derive(Clone, Debug, Default)]
pub struct Rep {
    /// The per-repetition summary (ns/task, lookups/s, ...).
    pub value: f64,
    /// Individual samples (latencies), for percentile metrics.
    pub samples: Vec<f64>,
}

impl Rep {
    /// A repetition that produced a single number.
    pub fn value(value: f64) -> Rep {
        Rep {
            value,
            samples: Vec::new(),
        }
    }
}

/// The closure type of a case.
pub type RunFn<'a> = Box<dyn FnMut() -> Result<Rep, String> + 'a>;

/// One column of a measurement: a runtime or peer and the code to run.
pub struct Case<'a> {
    /// Column id (see [`crate::report::COLUMNS`]).
    pub column: &'static str,
    /// Runs one repetition.
    pub run: RunFn<'a>,
}

impl<'a> Case<'a> {
    /// A case from a closure.
    pub fn new(column: &'static str, run: impl FnMut() -> Result<Rep, String> + 'a) -> Case<'a> {
        Case {
            column,
            run: Box::new(run),
        }
    }
}

/// The outcome of a case over all repetitions.
pub type Outcome = (&'static str, Result<Vec<Rep>, String>);

/// Runs a warm-up of every case, then `reps` interleaved rounds. A case
/// that fails is not run again; its error becomes the skip reason.
pub fn run_interleaved(reps: usize, cases: &mut [Case<'_>]) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = cases.iter().map(|c| (c.column, Ok(Vec::new()))).collect();
    for round in 0..=reps {
        for (case, (_, res)) in cases.iter_mut().zip(out.iter_mut()) {
            let Ok(done) = res else { continue };
            match (case.run)() {
                Ok(rep) if round > 0 => done.push(rep),
                Ok(_) => {}
                Err(e) => *res = Err(e),
            }
        }
    }
    out
}

/// Median of the values (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    percentile(v, 50.0)
}

/// The `p`-th percentile (nearest rank) of the values.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if p == 50.0 && s.len() % 2 == 0 {
        return (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

/// How a metric summarizes the repetitions of a column.
#[derive(Clone, Copy, Debug)]
pub enum Summary {
    /// Median of the per-repetition values.
    MedianOfReps,
    /// The given percentile over all samples of all repetitions.
    PooledPercentile(f64),
}

/// Builds a metric from outcomes.
pub fn metric(
    group: &'static str,
    name: impl Into<String>,
    unit: &'static str,
    better: Better,
    summary: Summary,
    outcomes: &[Outcome],
) -> Metric {
    let mut m = Metric::new(group, name, unit, better);
    for (col, res) in outcomes {
        let cell = match res {
            Ok(reps) if !reps.is_empty() => match summary {
                Summary::MedianOfReps => {
                    let vals: Vec<f64> = reps.iter().map(|r| r.value).collect();
                    Reading::Value {
                        value: median(&vals),
                        reps: vals,
                    }
                }
                Summary::PooledPercentile(p) => {
                    let all: Vec<f64> = reps
                        .iter()
                        .flat_map(|r| r.samples.iter().copied())
                        .collect();
                    let per_rep: Vec<f64> =
                        reps.iter().map(|r| percentile(&r.samples, p)).collect();
                    Reading::Value {
                        value: percentile(&all, p),
                        reps: per_rep,
                    }
                }
            },
            Ok(_) => Reading::Skipped("no repetitions ran".into()),
            Err(e) => Reading::Skipped(e.clone()),
        };
        m.set(col, cell);
    }
    m
}

/// [`metric`] with a target.
pub fn metric_with_target(
    group: &'static str,
    name: impl Into<String>,
    unit: &'static str,
    better: Better,
    summary: Summary,
    outcomes: &[Outcome],
    target: Target,
) -> Metric {
    metric(group, name, unit, better, summary, outcomes).target(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(median(&v), 50.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn interleaves_and_skips_failures() {
        let log = std::cell::RefCell::new(Vec::new());
        let mut cases = vec![
            Case::new("tern", || {
                log.borrow_mut().push("tern");
                Ok(Rep::value(1.0))
            }),
            Case::new("tokio", || {
                log.borrow_mut().push("tokio");
                Err("nope".into())
            }),
        ];
        let out = run_interleaved(2, &mut cases);
        drop(cases);
        assert_eq!(*log.borrow(), ["tern", "tokio", "tern", "tern"]);
        assert_eq!(out[0].1.as_ref().map(Vec::len), Ok(2));
        assert!(out[1].1.is_err());
    }
}
