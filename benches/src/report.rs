//! Results: metrics with one median per runtime, printed as markdown tables
//! and written as JSON.
//!
//! # Implementation
//!
//! A [`Metric`] holds, per column (runtime or peer), either the per-repetition
//! values and the summary chosen for the metric (median of the repetitions,
//! or a percentile over the pooled samples), or the reason it was skipped.
//! The ratio compares tern with the best *peer*: columns marked as floors
//! (blocking std sockets) are shown but never count as peers. JSON is
//! written by hand (the schema is in `benches/README.md`) so the crate needs
//! no serializer.

use std::fmt::Write as _;

/// Column identifiers, in the order tables show them.
pub const COLUMNS: &[(&str, &str)] = &[
    ("tern", "tern"),
    ("tern-reuse", "tern, udp_max_queries = 0"),
    ("tokio", "tokio (current_thread)"),
    ("smol", "smol"),
    ("std", "std blocking"),
    ("std-mmsg", "std, recvmmsg of 2 (tern's receive)"),
    ("std-mmsg-epoll", "the same, sockets in an epoll set"),
    ("hickory", "hickory (tokio)"),
    ("c-ares", "c-ares (C, one thread)"),
    ("glibc", "glibc getaddrinfo"),
    ("tokio-hickory", "tokio + hickory"),
    ("tokio-mt", "tokio (multi-thread, 2 workers)"),
    ("floor-fresh", "C floor: raw UDP, fresh port per query"),
    ("floor-reuse", "C floor: raw UDP, one socket"),
    (
        "std-drain",
        "std, non-blocking recv_from per datagram (floor)",
    ),
    ("std-drain-batch", "std, recvmmsg of up to 64 (floor)"),
    ("bare", "bare async-task + VecDeque loop"),
];

/// Columns that are not peers: floors for reference (blocking std
/// sockets, std receiving as tern does, with and without the sockets in an
/// epoll set, the DNS group's raw UDP loops, the task rows' bare
/// `async_task` loop) and tern's own variants.
const FLOORS: &[&str] = &[
    "std",
    "std-mmsg",
    "std-mmsg-epoll",
    "tern-reuse",
    "floor-fresh",
    "floor-reuse",
    "std-drain",
    "std-drain-batch",
    "bare",
];

/// Whether smaller or larger values are better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Times, bytes, syscalls.
    Lower,
    /// Rates and throughputs.
    Higher,
}

/// What tern should reach on a metric.
#[derive(Clone, Debug)]
pub enum Target {
    /// tern / best peer must be at most this.
    RatioToBest(f64),
    /// tern / the named column must be at most this.
    RatioTo(&'static str, f64),
    /// tern's value must be at most this.
    AtMost(f64),
    /// tern's value must be at least the named column's.
    AtLeastColumn(&'static str),
    /// tern / best peer must be at least this (rates).
    AtLeastRatioToBest(f64),
    /// tern / the named column must be at least this.
    AtLeastRatioOf(&'static str, f64),
    /// Both targets.
    Both(Box<Target>, Box<Target>),
}

impl Target {
    fn describe(&self, unit: &str) -> String {
        match self {
            Target::RatioToBest(r) => format!("<= {r}x best peer"),
            Target::RatioTo(c, r) => format!("<= {r}x {}", display_name(c)),
            Target::AtMost(v) => format!("<= {v} {unit}"),
            Target::AtLeastColumn(c) => format!(">= {}", display_name(c)),
            Target::AtLeastRatioToBest(r) => format!(">= {r}x best peer"),
            Target::AtLeastRatioOf(c, r) => format!(">= {r}x {}", display_name(c)),
            Target::Both(a, b) => format!("{} and {}", a.describe(unit), b.describe(unit)),
        }
    }
}

/// One column's result.
#[derive(Clone, Debug)]
pub enum Reading {
    /// The summary value and the per-repetition values it came from.
    Value {
        /// The number shown in the table.
        value: f64,
        /// One value per repetition (or pooled samples for percentiles).
        reps: Vec<f64>,
    },
    /// Not measured, with the reason.
    Skipped(String),
}

/// One row of a table.
#[derive(Clone, Debug)]
pub struct Metric {
    /// Group name (`tasks`, `udp`, ...).
    pub group: &'static str,
    /// What is measured.
    pub name: String,
    /// Unit of the values.
    pub unit: &'static str,
    /// Direction of improvement.
    pub better: Better,
    /// Results per column id.
    pub cells: Vec<(&'static str, Reading)>,
    /// The goal tern is held to, if any.
    pub target: Option<Target>,
}

/// Display name of a column id.
pub fn display_name(id: &str) -> &str {
    COLUMNS
        .iter()
        .find(|(i, _)| *i == id)
        .map_or(id, |(_, name)| name)
}

impl Metric {
    /// An empty metric.
    pub fn new(
        group: &'static str,
        name: impl Into<String>,
        unit: &'static str,
        better: Better,
    ) -> Metric {
        Metric {
            group,
            name: name.into(),
            unit,
            better,
            cells: Vec::new(),
            target: None,
        }
    }

    /// Sets the target.
    pub fn target(mut self, t: Target) -> Metric {
        self.target = Some(t);
        self
    }

    /// Adds a column's value.
    pub fn set(&mut self, col: &'static str, cell: Reading) {
        self.cells.retain(|(c, _)| *c != col);
        self.cells.push((col, cell));
    }

    /// The value of a column, if measured.
    pub fn value(&self, col: &str) -> Option<f64> {
        self.cells.iter().find_map(|(c, cell)| match cell {
            Reading::Value { value, .. } if *c == col => Some(*value),
            _ => None,
        })
    }

    /// The best peer column and its value.
    pub fn best_peer(&self) -> Option<(&'static str, f64)> {
        let peers = self.cells.iter().filter_map(|(c, cell)| match cell {
            Reading::Value { value, .. } if *c != "tern" && !FLOORS.contains(c) => {
                Some((*c, *value))
            }
            _ => None,
        });
        match self.better {
            Better::Lower => peers.min_by(|a, b| a.1.total_cmp(&b.1)),
            Better::Higher => peers.max_by(|a, b| a.1.total_cmp(&b.1)),
        }
    }

    /// tern / best peer.
    pub fn ratio(&self) -> Option<f64> {
        let t = self.value("tern")?;
        let (_, b) = self.best_peer()?;
        (b != 0.0).then(|| t / b)
    }

    /// Whether the target is met; `None` when it cannot be evaluated.
    pub fn target_met(&self) -> Option<bool> {
        self.meets(self.target.as_ref()?)
    }

    fn meets(&self, target: &Target) -> Option<bool> {
        let t = self.value("tern")?;
        Some(match target {
            Target::RatioToBest(r) => self.ratio()? <= *r,
            Target::RatioTo(c, r) => t / self.value(c)? <= *r,
            Target::AtMost(v) => t <= *v,
            Target::AtLeastColumn(c) => t >= self.value(c)?,
            Target::AtLeastRatioToBest(r) => self.ratio()? >= *r,
            Target::AtLeastRatioOf(c, r) => t >= r * self.value(c)?,
            Target::Both(a, b) => self.meets(a)? && self.meets(b)?,
        })
    }
}

/// Everything one run produced.
#[derive(Debug, Default)]
pub struct Report {
    /// Header lines: date, kernel, CPU.
    pub header: Vec<(String, String)>,
    /// Rows, in the order they were measured.
    pub metrics: Vec<Metric>,
    /// Notices (skipped peers, methodology).
    pub notes: Vec<String>,
    /// Groups that ran.
    pub groups: Vec<&'static str>,
    /// Iteration counts were tiny.
    pub quick: bool,
    /// Repetitions per runtime.
    pub reps: usize,
}

/// Formats a value with about four significant digits.
pub fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

impl Report {
    /// The report as markdown: header, one table per group, targets, notes.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        self.write_header(&mut out);
        for group in &self.groups {
            self.write_group(&mut out, group);
        }
        self.write_targets(&mut out);
        self.write_notes(&mut out);
        out
    }

    /// The run's header lines (machine, build, repetitions).
    fn write_header(&self, out: &mut String) {
        for (k, v) in &self.header {
            let _ = writeln!(out, "- {k}: {v}");
        }
        let _ = writeln!(
            out,
            "- repetitions: {} per runtime, interleaved, median shown{}",
            self.reps,
            if self.quick {
                " (QUICK: tiny iteration counts, numbers are not meaningful)"
            } else {
                ""
            }
        );
    }

    /// The columns `group`'s table shows, in order.
    fn columns(group: &str, rows: &[&Metric]) -> Vec<&'static str> {
        let mut cols: Vec<&'static str> = vec!["tern", "tokio", "smol"];
        if group == "footprint" || group == "thread-per-core" {
            cols = vec!["tern"];
        }
        for (id, _) in COLUMNS {
            if !cols.contains(id) && rows.iter().any(|m| m.cells.iter().any(|(c, _)| c == id)) {
                cols.push(id);
            }
        }
        if group == "dns" {
            cols.retain(|c| rows.iter().any(|m| m.cells.iter().any(|(x, _)| x == c)));
        }
        cols
    }

    /// One group's table.
    fn write_group(&self, out: &mut String, group: &str) {
        let rows: Vec<&Metric> = self.metrics.iter().filter(|m| m.group == group).collect();
        if rows.is_empty() {
            return;
        }
        let cols = Report::columns(group, &rows);
        let _ = writeln!(out, "\n### {group}\n");
        let _ = write!(out, "| metric |");
        for c in &cols {
            let _ = write!(out, " {} |", display_name(c));
        }
        let _ = writeln!(out, " ratio tern/best peer |");
        let _ = write!(out, "|---|");
        for _ in &cols {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out, "---:|");
        for m in rows {
            let _ = write!(out, "| {} ({}) |", m.name, m.unit);
            for c in &cols {
                let cell = m.cells.iter().find(|(x, _)| x == c).map(|(_, cell)| cell);
                let s = match cell {
                    Some(Reading::Value { value, .. }) => fmt_value(*value),
                    Some(Reading::Skipped(_)) => "skipped".to_string(),
                    None => "—".to_string(),
                };
                let _ = write!(out, " {s} |");
            }
            let ratio = match (m.ratio(), m.best_peer()) {
                (Some(r), Some((p, _))) => format!("{r:.2} (vs {p})"),
                _ => "—".to_string(),
            };
            let _ = writeln!(out, " {ratio} |");
        }
    }

    /// The targets table: each goal and whether this run met it.
    fn write_targets(&self, out: &mut String) {
        let targets: Vec<&Metric> = self.metrics.iter().filter(|m| m.target.is_some()).collect();
        if targets.is_empty() {
            return;
        }
        let _ = writeln!(
            out,
            "\n### targets\n\n| metric | target | tern | result |\n|---|---|---:|---|"
        );
        for m in targets {
            let t = m
                .target
                .as_ref()
                .map(|t| t.describe(m.unit))
                .unwrap_or_default();
            let v = m.value("tern").map_or("—".to_string(), fmt_value);
            let res = match m.target_met() {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "n/a",
            };
            let _ = writeln!(out, "| {} ({}) | {t} | {v} | {res} |", m.name, m.unit);
        }
    }

    /// Notes, then every skipped cell with its reason.
    fn write_notes(&self, out: &mut String) {
        let mut skipped: Vec<String> = Vec::new();
        for m in &self.metrics {
            for (c, cell) in &m.cells {
                if let Reading::Skipped(why) = cell {
                    let line = format!("{} / {}: skipped: {why}", m.group, display_name(c));
                    if !skipped.contains(&line) {
                        skipped.push(line);
                    }
                }
            }
        }
        if !self.notes.is_empty() || !skipped.is_empty() {
            let _ = writeln!(out, "\n### notes\n");
            for n in self.notes.iter().chain(&skipped) {
                let _ = writeln!(out, "- {n}");
            }
        }
    }

    /// The report as JSON (schema `tern-bench/1`, see `benches/README.md`).
    pub fn json(&self) -> String {
        let mut o = String::from("{\n  \"schema\": \"tern-bench/1\",\n");
        for (k, v) in &self.header {
            let _ = writeln!(o, "  {}: {},", json_str(k), json_str(v));
        }
        let _ = writeln!(
            o,
            "  \"quick\": {},\n  \"reps\": {},",
            self.quick, self.reps
        );
        let groups: Vec<String> = self.groups.iter().map(|g| json_str(g)).collect();
        let _ = writeln!(o, "  \"groups\": [{}],", groups.join(", "));
        let notes: Vec<String> = self.notes.iter().map(|n| json_str(n)).collect();
        let _ = writeln!(o, "  \"notes\": [{}],", notes.join(", "));
        o.push_str("  \"metrics\": [");
        for (i, m) in self.metrics.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            let _ = write!(
                o,
                "\n    {{\"group\": {}, \"name\": {}, \"unit\": {}, \"better\": {}, \"results\": {{",
                json_str(m.group),
                json_str(&m.name),
                json_str(m.unit),
                json_str(if m.better == Better::Lower { "lower" } else { "higher" })
            );
            for (j, (c, cell)) in m.cells.iter().enumerate() {
                if j > 0 {
                    o.push_str(", ");
                }
                match cell {
                    Reading::Value { value, reps } => {
                        let reps: Vec<String> = reps.iter().map(|v| json_num(*v)).collect();
                        let _ = write!(
                            o,
                            "{}: {{\"value\": {}, \"reps\": [{}]}}",
                            json_str(c),
                            json_num(*value),
                            reps.join(", ")
                        );
                    }
                    Reading::Skipped(why) => {
                        let _ = write!(o, "{}: {{\"skipped\": {}}}", json_str(c), json_str(why));
                    }
                }
            }
            let _ = write!(o, "}}, \"best_peer\": ");
            match m.best_peer() {
                Some((p, _)) => o.push_str(&json_str(p)),
                None => o.push_str("null"),
            }
            let _ = write!(o, ", \"ratio_tern_best_peer\": ");
            o.push_str(&m.ratio().map_or("null".into(), json_num));
            o.push_str(", \"target\": ");
            match &m.target {
                Some(t) => {
                    let met = m.target_met().map_or("null".into(), |b| b.to_string());
                    let _ = write!(
                        o,
                        "{{\"description\": {}, \"met\": {met}}}",
                        json_str(&t.describe(m.unit))
                    );
                }
                None => o.push_str("null"),
            }
            o.push('}');
        }
        o.push_str("\n  ]\n}\n");
        o
    }
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        "null".into()
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_uses_best_peer_and_ignores_floors() {
        let mut m = Metric::new("udp", "rtt", "us", Better::Lower);
        m.set(
            "tern",
            Reading::Value {
                value: 10.0,
                reps: vec![10.0],
            },
        );
        m.set(
            "tokio",
            Reading::Value {
                value: 20.0,
                reps: vec![20.0],
            },
        );
        m.set(
            "smol",
            Reading::Value {
                value: 25.0,
                reps: vec![25.0],
            },
        );
        m.set(
            "std",
            Reading::Value {
                value: 5.0,
                reps: vec![5.0],
            },
        );
        assert_eq!(m.best_peer(), Some(("tokio", 20.0)));
        assert_eq!(m.ratio(), Some(0.5));
        let m = m.target(Target::RatioTo("std", 1.25));
        assert_eq!(m.target_met(), Some(false));
        // Both: tern 10 is 0.5 x tokio (met) but 2 x std (missed).
        let both = |a: f64, b: f64| {
            Target::Both(
                Box::new(Target::RatioToBest(a)),
                Box::new(Target::RatioTo("std", b)),
            )
        };
        assert_eq!(m.clone().target(both(0.67, 1.1)).target_met(), Some(false));
        assert_eq!(m.clone().target(both(0.4, 2.5)).target_met(), Some(false));
        assert_eq!(m.target(both(0.67, 2.5)).target_met(), Some(true));
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(json_num(f64::NAN), "null");
    }
}
