//! Tenant lock figures from a server's `/metrics`: how long requests wait for a
//! tenant's lock (`switchboard_tenant_lock_wait_seconds`) and how long they hold it
//! (`switchboard_tenant_lock_hold_seconds`), per `operation` label when there is one.
//! Either metric may be a histogram (`_bucket{le=..}` lines: quantiles interpolated
//! within buckets, as PromQL's `histogram_quantile` does) or a summary
//! (`{quantile=..}` lines, as the exporter renders a histogram without buckets).

use super::stats::ms;

pub(crate) const WAIT: &str = "switchboard_tenant_lock_wait_seconds";
pub(crate) const HOLD: &str = "switchboard_tenant_lock_hold_seconds";

/// One label set of a histogram or summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Series {
    /// Its labels but `le` and `quantile`, as written (`operation="accept"`), or empty.
    pub(crate) labels: String,
    /// Cumulative buckets (upper bound, count), histogram form.
    pub(crate) buckets: Vec<(f64, f64)>,
    /// (quantile, value), summary form.
    pub(crate) quantiles: Vec<(f64, f64)>,
    pub(crate) count: f64,
}

impl Series {
    /// Quantile `q` in seconds: from the buckets, else the summary's own quantile
    /// closest to `q` (within 0.001).
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        if !self.buckets.is_empty() {
            return crate::procs::bucket_quantile(&self.buckets, q);
        }
        self.quantiles
            .iter()
            .find(|(at, _)| (at - q).abs() < 1e-3)
            .map(|&(_, v)| v)
            .filter(|v| v.is_finite())
    }
}

/// Splits `name{a="x",le="1"} 3` (or `name 3`) into the labels (between the
/// braces) and the value; `None` when the line is not a sample of exactly `name`.
fn sample<'a>(line: &'a str, name: &str) -> Option<(&'a str, f64)> {
    let rest = line.strip_prefix(name)?;
    let (labels, value) = if let Some(inner) = rest.strip_prefix('{') {
        // Label values may hold `}` only inside quotes: find the closing brace outside.
        let mut quoted = false;
        let mut escaped = false;
        let mut end = None;
        for (i, c) in inner.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                '}' if !quoted => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end?;
        (&inner[..end], &inner[end + 1..])
    } else if rest.starts_with(' ') {
        ("", rest)
    } else {
        return None;
    };
    // The value, then an optional timestamp.
    let value = value.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some((labels, value))
}

/// `key="value"` pairs of a label list (values unescaped only for `\"` and `\\`).
fn pairs(labels: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = labels.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let Some(after) = after.trim_start().strip_prefix('"') else {
            break;
        };
        let mut value = String::new();
        let mut escaped = false;
        let mut end = after.len();
        for (i, c) in after.char_indices() {
            if escaped {
                value.push(match c {
                    'n' => '\n',
                    other => other,
                });
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i;
                break;
            } else {
                value.push(c);
            }
        }
        out.push((key.trim().trim_start_matches(',').trim().to_owned(), value));
        rest = after
            .get(end + 1..)
            .unwrap_or("")
            .trim_start_matches(',')
            .trim();
    }
    out
}

/// Every label set of histogram or summary `name` in a Prometheus text exposition.
pub(crate) fn family(text: &str, name: &str) -> Vec<Series> {
    let (bucket, count) = (format!("{name}_bucket"), format!("{name}_count"));
    let mut series: Vec<Series> = Vec::new();
    let mut entry = |labels: &str| -> usize {
        let kept: Vec<String> = pairs(labels)
            .into_iter()
            .filter(|(k, _)| k != "le" && k != "quantile")
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        let kept = kept.join(",");
        match series.iter().position(|s| s.labels == kept) {
            Some(i) => i,
            None => {
                series.push(Series {
                    labels: kept,
                    ..Series::default()
                });
                series.len() - 1
            }
        }
    };
    let mut found: Vec<(usize, char, f64, f64)> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let label = |labels: &str, key: &str| -> Option<f64> {
            let (_, v) = pairs(labels).into_iter().find(|(k, _)| k == key)?;
            match v.as_str() {
                "+Inf" => Some(f64::INFINITY),
                v => v.parse().ok(),
            }
        };
        if let Some((labels, v)) = sample(line, &bucket) {
            if let Some(le) = label(labels, "le") {
                found.push((entry(labels), 'b', le, v));
            }
        } else if let Some((labels, v)) = sample(line, &count) {
            found.push((entry(labels), 'c', 0.0, v));
        } else if let Some((labels, v)) = sample(line, name)
            && let Some(q) = label(labels, "quantile")
        {
            found.push((entry(labels), 'q', q, v));
        }
    }
    for (i, kind, at, v) in found {
        let s = &mut series[i];
        match kind {
            'b' => s.buckets.push((at, v)),
            'c' => s.count = v,
            _ => s.quantiles.push((at, v)),
        }
    }
    series
}

/// One metric's figures for a table row: count, p50 and p99 in seconds, and how the
/// label sets were combined.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Figures {
    pub(crate) count: f64,
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
    pub(crate) note: &'static str,
}

/// All label sets of a family together: histograms by adding their buckets (the
/// exact merge), summaries by taking each quantile's highest value over the label sets
/// (a summary cannot be merged; the highest is an upper bound).
pub(crate) fn combined(series: &[Series]) -> Option<Figures> {
    if series.is_empty() {
        return None;
    }
    let count = series.iter().map(|s| s.count).sum();
    if series.len() == 1 {
        let s = &series[0];
        return Some(Figures {
            count,
            p50: s.quantile(0.5),
            p99: s.quantile(0.99),
            note: if s.buckets.is_empty() {
                "summary"
            } else {
                "histogram"
            },
        });
    }
    if series.iter().all(|s| !s.buckets.is_empty()) {
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for &(le, c) in series.iter().flat_map(|s| &s.buckets) {
            match merged.iter_mut().find(|(b, _)| *b == le) {
                Some((_, sum)) => *sum += c,
                None => merged.push((le, c)),
            }
        }
        return Some(Figures {
            count,
            p50: crate::procs::bucket_quantile(&merged, 0.5),
            p99: crate::procs::bucket_quantile(&merged, 0.99),
            note: "histogram, label sets added",
        });
    }
    let highest = |q: f64| {
        series
            .iter()
            .filter_map(|s| s.quantile(q))
            .max_by(|a, b| a.total_cmp(b))
    };
    Some(Figures {
        count,
        p50: highest(0.5),
        p99: highest(0.99),
        note: "summary: highest over label sets",
    })
}

/// Seconds as µs (lock waits and holds are mostly a few µs), ms past 10 ms.
fn seconds_cell(v: Option<f64>) -> String {
    match v {
        None => "n/a".to_owned(),
        Some(s) if s >= 0.01 => format!("{} ms", ms(s * 1000.0)),
        Some(s) if s >= 0.000_01 => format!("{:.0} µs", s * 1e6),
        Some(s) => format!("{:.1} µs", s * 1e6),
    }
}

/// Prints one table of wait and hold figures for each phase's scrape (`None`: the
/// scrape failed). Phases whose server exports neither metric say so.
pub(crate) fn print_table(phases: &[(String, Option<String>)]) {
    if phases.is_empty() {
        return;
    }
    println!();
    println!("## Tenant lock wait and hold (each phase's server, scraped once at its end)");
    println!();
    println!(
        "From `{WAIT}` and `{HOLD}`; counts and quantiles cover the server's whole life (set-up and warm-up included); histogram quantiles are interpolated within buckets, so they are no finer than the server's bucket bounds. Per operation when the server labels them (operations with no sample left out)."
    );
    println!();
    println!(
        "| phase | operation | wait count | wait p50 / p99 | hold count | hold p50 / p99 | form |"
    );
    println!("| --- | --- | ---: | --- | ---: | --- | --- |");
    for (phase, text) in phases {
        let Some(text) = text else {
            println!("| {phase} | scrape failed | | | | | |");
            continue;
        };
        let (wait, hold) = (family(text, WAIT), family(text, HOLD));
        if wait.is_empty() && hold.is_empty() {
            println!("| {phase} | not exported by this server | | | | | |");
            continue;
        }
        let cells = |f: Option<Figures>| match f {
            Some(f) => (
                format!("{:.0}", f.count),
                format!("{} / {}", seconds_cell(f.p50), seconds_cell(f.p99)),
                f.note,
            ),
            None => ("n/a".to_owned(), "not exported".to_owned(), ""),
        };
        let line = |op: &str, w: Option<Figures>, h: Option<Figures>| {
            let (wc, wq, wn) = cells(w);
            let (hc, hq, hn) = cells(h);
            let form = if wn == hn || hn.is_empty() {
                wn.to_owned()
            } else if wn.is_empty() {
                hn.to_owned()
            } else {
                format!("wait {wn}; hold {hn}")
            };
            println!("| {phase} | {op} | {wc} | {wq} | {hc} | {hq} | {form} |");
        };
        line("all", combined(&wait), combined(&hold));
        // Per label set, when there is more than one; label sets without a sample
        // (operations the exporter registered but this phase never ran) are left out.
        let mut labels: Vec<&str> = wait
            .iter()
            .chain(&hold)
            .filter(|s| s.count > 0.0)
            .map(|s| s.labels.as_str())
            .collect();
        labels.sort_unstable();
        labels.dedup();
        if labels.len() > 1 || wait.len().max(hold.len()) > 1 {
            for l in labels {
                let pick = |f: &[Series]| {
                    combined(
                        &f.iter()
                            .filter(|s| s.labels == l)
                            .cloned()
                            .collect::<Vec<_>>(),
                    )
                };
                line(l, pick(&wait), pick(&hold));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HISTOGRAM: &str = "\
# TYPE switchboard_tenant_lock_wait_seconds histogram
switchboard_tenant_lock_wait_seconds_bucket{operation=\"open\",le=\"0.001\"} 50
switchboard_tenant_lock_wait_seconds_bucket{operation=\"open\",le=\"0.01\"} 100
switchboard_tenant_lock_wait_seconds_bucket{operation=\"open\",le=\"+Inf\"} 100
switchboard_tenant_lock_wait_seconds_sum{operation=\"open\"} 0.2
switchboard_tenant_lock_wait_seconds_count{operation=\"open\"} 100
switchboard_tenant_lock_wait_seconds_bucket{operation=\"close\",le=\"0.001\"} 100
switchboard_tenant_lock_wait_seconds_bucket{operation=\"close\",le=\"0.01\"} 100
switchboard_tenant_lock_wait_seconds_bucket{operation=\"close\",le=\"+Inf\"} 100
switchboard_tenant_lock_wait_seconds_count{operation=\"close\"} 100
";

    const SUMMARY: &str = "\
# TYPE switchboard_tenant_lock_hold_seconds summary
switchboard_tenant_lock_hold_seconds{operation=\"open\",quantile=\"0.5\"} 0.00002
switchboard_tenant_lock_hold_seconds{operation=\"open\",quantile=\"0.99\"} 0.0004
switchboard_tenant_lock_hold_seconds_sum{operation=\"open\"} 0.01
switchboard_tenant_lock_hold_seconds_count{operation=\"open\"} 300
switchboard_tenant_lock_hold_seconds{operation=\"close\",quantile=\"0.5\"} 0.00001
switchboard_tenant_lock_hold_seconds{operation=\"close\",quantile=\"0.99\"} 0.0009
switchboard_tenant_lock_hold_seconds_count{operation=\"close\"} 100
switchboard_tenant_lock_hold_seconds_more 1
";

    #[test]
    fn histogram_per_label_set_and_merged() {
        let f = family(HISTOGRAM, WAIT);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].labels, "operation=\"open\"");
        assert_eq!(f[0].count, 100.0);
        // Rank 50 of 100 is the top of the first bucket.
        assert!((f[0].quantile(0.5).unwrap() - 0.001).abs() < 1e-12);
        // Rank 99: 49/50 of the way through (0.001, 0.01].
        assert!((f[0].quantile(0.99).unwrap() - (0.001 + 0.009 * 49.0 / 50.0)).abs() < 1e-12);
        let all = combined(&f).unwrap();
        assert_eq!(all.count, 200.0);
        // 150 of 200 under 1 ms: p50 inside the first bucket, p99 in the second.
        assert!(all.p50.unwrap() < 0.001);
        assert!(all.p99.unwrap() > 0.001 && all.p99.unwrap() < 0.01);
        assert!(family(HISTOGRAM, HOLD).is_empty());
    }

    #[test]
    fn summary_quantiles_and_highest() {
        let f = family(SUMMARY, HOLD);
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].count, 100.0);
        assert_eq!(f[0].quantile(0.99), Some(0.0004));
        let all = combined(&f).unwrap();
        assert_eq!(all.count, 400.0);
        assert_eq!(all.p50, Some(0.00002));
        assert_eq!(all.p99, Some(0.0009));
    }

    #[test]
    fn unlabelled_and_odd_label_values() {
        let text = "m_bucket{le=\"1\"} 2\nm_bucket{le=\"+Inf\"} 4\nm_count 4\n\
                    m{op=\"a}b\\\"c\",quantile=\"0.5\"} 3\n";
        let f = family(text, "m");
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].labels, "");
        assert_eq!(f[0].count, 4.0);
        // Half the samples above the last finite bound: p99 is that bound.
        assert_eq!(f[0].quantile(0.99), Some(1.0));
        assert_eq!(f[1].labels, "op=\"a}b\\\"c\"");
        assert_eq!(f[1].quantile(0.5), Some(3.0));
    }
}
