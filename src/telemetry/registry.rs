//! A small Prometheus registry of our own.
//!
//! Three kinds of families, each with a fixed list of label names: [`CounterVec`] (monotonic,
//! exported with a `_total` name), [`GaugeVec`] and [`HistogramVec`] (cumulative `le` buckets,
//! `_sum` and `_count`). A [`Registry`] renders every family in the text exposition format
//! 0.0.4 (`# HELP`, `# TYPE`, one sample per line, label values escaped), in registration order
//! and, within a family, in label order, so the output is stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn key(labels: &[&str]) -> Vec<String> {
    labels.iter().map(|s| (*s).to_string()).collect()
}

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a HELP text: backslash and line feed.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value as Prometheus writes it (`+Inf`, `-Inf`, `NaN`, else Rust's shortest form).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// `{a="x",b="y"}` (empty when there are no labels), with `extra` appended (for `le`).
fn label_set(names: &[&'static str], values: &[String], extra: Option<(&str, &str)>) -> String {
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape_label(v)))
        .collect();
    if let Some((n, v)) = extra {
        parts.push(format!("{n}=\"{}\"", escape_label(v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

/// Name, help and label names of a family.
#[derive(Debug)]
struct Desc {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
}

impl Desc {
    fn header(&self, out: &mut String, kind: &str) {
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(self.help));
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
    }

    fn check(&self, labels: &[&str]) -> bool {
        if labels.len() == self.labels.len() {
            true
        } else {
            tracing::debug!(
                metric = self.name,
                "wrong number of label values; sample dropped"
            );
            false
        }
    }
}

/// Something the registry can render.
trait Family: Send + Sync {
    fn render(&self, out: &mut String);
}

/// A family of counters. The name must end in `_total`.
#[derive(Debug)]
pub(crate) struct CounterVec {
    desc: Desc,
    cells: Mutex<BTreeMap<Vec<String>, Arc<AtomicU64>>>,
}

impl CounterVec {
    fn cell(&self, labels: &[&str]) -> Option<Arc<AtomicU64>> {
        if !self.desc.check(labels) {
            return None;
        }
        let mut cells = lock(&self.cells);
        Some(cells.entry(key(labels)).or_default().clone())
    }

    /// Adds one.
    pub(crate) fn inc(&self, labels: &[&str]) {
        self.inc_by(labels, 1);
    }

    /// Adds `n`.
    pub(crate) fn inc_by(&self, labels: &[&str], n: u64) {
        if let Some(c) = self.cell(labels) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    #[cfg(test)]
    /// The current value (0 for a series never touched).
    pub(crate) fn get(&self, labels: &[&str]) -> u64 {
        lock(&self.cells)
            .get(&key(labels))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

impl Family for CounterVec {
    fn render(&self, out: &mut String) {
        self.desc.header(out, "counter");
        for (values, cell) in lock(&self.cells).iter() {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.desc.name,
                label_set(self.desc.labels, values, None),
                cell.load(Ordering::Relaxed)
            );
        }
    }
}

/// A family of gauges (f64 values).
#[derive(Debug)]
pub(crate) struct GaugeVec {
    desc: Desc,
    cells: Mutex<BTreeMap<Vec<String>, f64>>,
}

impl GaugeVec {
    /// Sets the value.
    pub(crate) fn set(&self, labels: &[&str], v: f64) {
        if self.desc.check(labels) {
            lock(&self.cells).insert(key(labels), v);
        }
    }

    /// Removes a series (it is no longer exported).
    pub(crate) fn remove(&self, labels: &[&str]) {
        lock(&self.cells).remove(&key(labels));
    }

    #[cfg(test)]
    /// The current value, if the series exists.
    pub(crate) fn get(&self, labels: &[&str]) -> Option<f64> {
        lock(&self.cells).get(&key(labels)).copied()
    }
}

impl Family for GaugeVec {
    fn render(&self, out: &mut String) {
        self.desc.header(out, "gauge");
        for (values, v) in lock(&self.cells).iter() {
            let _ = writeln!(
                out,
                "{}{} {}",
                self.desc.name,
                label_set(self.desc.labels, values, None),
                format_value(*v)
            );
        }
    }
}

#[derive(Debug, Clone, Default)]
struct HistogramCell {
    /// Non-cumulative counts per bucket (the last one is `+Inf`).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// A family of histograms with fixed upper bounds (in the metric's base unit).
#[derive(Debug)]
pub(crate) struct HistogramVec {
    desc: Desc,
    bounds: &'static [f64],
    cells: Mutex<BTreeMap<Vec<String>, HistogramCell>>,
}

impl HistogramVec {
    /// Records one observation.
    pub(crate) fn observe(&self, labels: &[&str], v: f64) {
        if !self.desc.check(labels) || v.is_nan() {
            return;
        }
        let idx = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        let mut cells = lock(&self.cells);
        let cell = cells.entry(key(labels)).or_insert_with(|| HistogramCell {
            counts: vec![0; self.bounds.len() + 1],
            ..Default::default()
        });
        if let Some(c) = cell.counts.get_mut(idx) {
            *c += 1;
        }
        cell.sum += v;
        cell.count += 1;
    }

    /// Records a duration in seconds.
    pub(crate) fn observe_duration(&self, labels: &[&str], d: Duration) {
        self.observe(labels, d.as_secs_f64());
    }

    #[cfg(test)]
    /// Number of observations of a series.
    pub(crate) fn count(&self, labels: &[&str]) -> u64 {
        lock(&self.cells).get(&key(labels)).map_or(0, |c| c.count)
    }
}

impl Family for HistogramVec {
    fn render(&self, out: &mut String) {
        self.desc.header(out, "histogram");
        let name = self.desc.name;
        for (values, cell) in lock(&self.cells).iter() {
            let mut cumulative = 0u64;
            for (i, bound) in self.bounds.iter().enumerate() {
                cumulative += cell.counts.get(i).copied().unwrap_or(0);
                let le = format_value(*bound);
                let labels = label_set(self.desc.labels, values, Some(("le", &le)));
                let _ = writeln!(out, "{name}_bucket{labels} {cumulative}");
            }
            let labels = label_set(self.desc.labels, values, Some(("le", "+Inf")));
            let _ = writeln!(out, "{name}_bucket{labels} {}", cell.count);
            let labels = label_set(self.desc.labels, values, None);
            let _ = writeln!(out, "{name}_sum{labels} {}", format_value(cell.sum));
            let _ = writeln!(out, "{name}_count{labels} {}", cell.count);
        }
    }
}

/// A set of families rendered together.
#[derive(Default)]
pub(crate) struct Registry {
    families: Mutex<Vec<Arc<dyn Family>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("families", &lock(&self.families).len())
            .finish()
    }
}

impl Registry {
    /// Registers a counter family (`name` should end in `_total`).
    pub(crate) fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<CounterVec> {
        let f = Arc::new(CounterVec {
            desc: Desc { name, help, labels },
            cells: Mutex::default(),
        });
        lock(&self.families).push(f.clone());
        f
    }

    /// Registers a gauge family.
    pub(crate) fn gauge(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<GaugeVec> {
        let f = Arc::new(GaugeVec {
            desc: Desc { name, help, labels },
            cells: Mutex::default(),
        });
        lock(&self.families).push(f.clone());
        f
    }

    /// Registers a histogram family with upper bounds `bounds` (ascending).
    pub(crate) fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        bounds: &'static [f64],
    ) -> Arc<HistogramVec> {
        let f = Arc::new(HistogramVec {
            desc: Desc { name, help, labels },
            bounds,
            cells: Mutex::default(),
        });
        lock(&self.families).push(f.clone());
        f
    }

    /// Every family in the text exposition format 0.0.4.
    pub(crate) fn render(&self) -> String {
        let families: Vec<Arc<dyn Family>> = lock(&self.families).clone();
        let mut out = String::new();
        for f in families {
            f.render(&mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let r = Registry::default();
        let c = r.counter("x_total", "Things.\nMore", &["a"]);
        let g = r.gauge("y", "A gauge", &[]);
        let h = r.histogram("z_seconds", "Times", &["e"], &[0.1, 1.0]);
        c.inc(&["q\"\\\n"]);
        c.inc_by(&["b"], 3);
        c.inc(&["wrong", "arity"]);
        g.set(&[], 2.5);
        h.observe(&["e1"], 0.25);
        h.observe(&["e1"], 0.5);
        h.observe(&["e1"], 5.0);
        let text = r.render();
        let expected = "# HELP x_total Things.\\nMore\n# TYPE x_total counter\n\
x_total{a=\"b\"} 3\nx_total{a=\"q\\\"\\\\\\n\"} 1\n\
# HELP y A gauge\n# TYPE y gauge\ny 2.5\n\
# HELP z_seconds Times\n# TYPE z_seconds histogram\n\
z_seconds_bucket{e=\"e1\",le=\"0.1\"} 0\nz_seconds_bucket{e=\"e1\",le=\"1\"} 2\n\
z_seconds_bucket{e=\"e1\",le=\"+Inf\"} 3\nz_seconds_sum{e=\"e1\"} 5.75\nz_seconds_count{e=\"e1\"} 3\n";
        assert_eq!(text, expected);
        assert_eq!(c.get(&["b"]), 3);
        assert_eq!(h.count(&["e1"]), 3);
    }
}
