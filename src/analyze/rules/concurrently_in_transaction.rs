//! PF-I03: `CONCURRENTLY` used inside a transaction block, which fails with 25001.

use super::super::sql::concurrently;
use super::super::{finding, Finding, Input};
use super::failed_statement;
use crate::model::RuleId;

pub fn check(input: &Input<'_>) -> Vec<Finding> {
    match failed_statement(input) {
        Some(st) if st.sqlstate.as_deref() == Some("25001") && concurrently(&st.text) => {
            let object = st.objects.first().cloned().unwrap_or_default();
            vec![finding(RuleId::I03, object, Some(st))]
        }
        _ => Vec::new(),
    }
}
