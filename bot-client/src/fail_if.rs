//! `--fail-if` thresholds: `server.tick_lateness_us.p99>1000` fails the run (non-zero exit)
//! when the report's figure at that path crosses the value, so a studio can gate its CI.

use std::fmt;

use crate::report::{LoadGenerator, Report, ServerFigures};

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
}

/// One threshold: the run fails when the figure at `path` compares true against `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    text: String,
    pointer: String,
    op: Op,
    value: f64,
}

/// A threshold that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--fail-if {text:?}: {why}")]
pub struct ThresholdError {
    text: String,
    why: String,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Threshold {
    type Err = ThresholdError;

    /// `PATH OP NUMBER` with OP one of `>`, `>=`, `<`, `<=` and PATH a dotted key of the JSON
    /// report, e.g. `bots.failed>0` or `snapshots_per_s_per_bot.p50<28`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |why: String| ThresholdError {
            text: text.to_owned(),
            why,
        };
        let (at, op, len) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)]
            .iter()
            .find_map(|(s, op)| text.find(s).map(|i| (i, *op, s.len())))
            .ok_or_else(|| error("expected PATH>VALUE (or >=, <, <=)".to_owned()))?;
        let path = text.get(..at).unwrap_or_default().trim();
        let value = text.get(at + len..).unwrap_or_default().trim();
        let value: f64 = value
            .parse()
            .map_err(|_| error(format!("{value:?} is not a number")))?;
        let pointer = format!("/{}", path.replace('.', "/"));
        // Check the path against a report with every section present.
        let sample = serde_json::to_value(Report {
            server: Some(ServerFigures {
                rss_bytes: Some(0),
                rss_bytes_per_client: Some(0),
                udp_receive_drops: Some(0),
                ..ServerFigures::default()
            }),
            load_generator: LoadGenerator {
                cpu_cores: Some(0.0),
                machine_busy_fraction: Some(0.0),
                udp_receive_drops: Some(0),
                ..LoadGenerator::default()
            },
            ..Report::default()
        })
        .unwrap_or_default();
        if !sample
            .pointer(&pointer)
            .is_some_and(serde_json::Value::is_number)
        {
            return Err(error(format!(
                "{path:?} is not a number in the report (see --report-json for its keys)"
            )));
        }
        Ok(Self {
            text: text.to_owned(),
            pointer,
            op,
            value,
        })
    }
}

impl Threshold {
    /// Whether `report` crosses this threshold; a missing figure (no server figures)
    /// counts as crossed, since it could not be checked.
    #[must_use]
    pub fn crossed(&self, report: &serde_json::Value) -> Option<String> {
        let Some(figure) = report
            .pointer(&self.pointer)
            .and_then(serde_json::Value::as_f64)
        else {
            return Some(format!("{}: figure missing from the report", self.text));
        };
        let crossed = match self.op {
            Op::Gt => figure > self.value,
            Op::Ge => figure >= self.value,
            Op::Lt => figure < self.value,
            Op::Le => figure <= self.value,
        };
        crossed.then(|| format!("{}: the figure is {figure}", self.text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_parse_and_judge() {
        let t: Threshold = "server.tick_lateness_us.p99>1000"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let report = serde_json::json!({"server": {"tick_lateness_us": {"p99": 1500.0}}});
        assert!(t.crossed(&report).is_some());
        let report = serde_json::json!({"server": {"tick_lateness_us": {"p99": 150.0}}});
        assert_eq!(t.crossed(&report), None);
        let t: Threshold = "snapshots_per_s_per_bot.p50 < 28"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            t.crossed(&serde_json::json!({"snapshots_per_s_per_bot": {"p50": 27.0}}))
                .is_some()
        );
        assert!(
            t.crossed(&serde_json::json!({})).is_some(),
            "missing counts as crossed"
        );
    }

    #[test]
    fn bad_thresholds_say_why() {
        for (text, why) in [
            ("server.tick_us.p99", "expected"),
            ("server.tick_us.p42>1", "not a number in the report"),
            ("bots.failed>many", "not a number"),
            ("profile>1", "not a number in the report"),
        ] {
            let err = text.parse::<Threshold>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
