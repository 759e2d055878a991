//! PF-L04: under the generated traffic, an application statement waited behind the
//! migration longer than the threshold (`findings.traffic_wait_ms`).

use super::super::{finding, Evidence, Finding, Input};
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    let Some(t) = input.traffic else {
        return Vec::new();
    };
    if t.max_ms <= input.thresholds.traffic_wait_ms {
        return Vec::new();
    }
    let object = match t.tables.as_slice() {
        [one] => one.clone(),
        _ => "migration".to_string(),
    };
    vec![finding(RuleId::L04, object, None)
        .with(
            Evidence::new("longest wait", t.max_ms, "ms").against(input.thresholds.traffic_wait_ms),
        )
        .with(Evidence::new(
            "statements waited",
            t.waited as f64,
            "statements",
        ))
        .with(Evidence::new(
            "past the application's timeout",
            t.over_timeout as f64,
            "statements",
        ))]
}
