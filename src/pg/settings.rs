//! Session settings a migration changes with `SET`, read by PostgreSQL's parser: the
//! trace follows `lock_timeout` through a session without asking the server.

use pg_query::protobuf::a_const::Val;
use pg_query::protobuf::VariableSetKind;
use pg_query::NodeEnum;

/// A change of one setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    /// `SET LOCAL`: until the transaction ends.
    pub local: bool,
    /// The new value as written (`1s`, `5000`); `None` for the default (RESET, DEFAULT).
    pub value: Option<String>,
}

/// What `text` does to the setting `name`, when it is a `SET`/`RESET` of it.
pub fn change_of(text: &str, name: &str) -> Option<SettingChange> {
    if !matches!(
        super::lexical::first_keyword(text).as_deref(),
        Some("SET" | "RESET")
    ) {
        return None;
    }
    let parsed = pg_query::parse(text, 0).ok()?;
    let first = parsed.protobuf.stmts.first()?.stmt.as_ref()?.node.as_ref();
    let Some(NodeEnum::VariableSetStmt(s)) = first else {
        return None;
    };
    let all = s.kind == VariableSetKind::VarResetAll as i32;
    if !all && !s.name.eq_ignore_ascii_case(name) {
        return None;
    }
    let value = if s.kind == VariableSetKind::VarSetValue as i32 {
        let arg = s.args.first()?.node.as_ref()?;
        let NodeEnum::AConst(c) = arg else {
            return None;
        };
        Some(match c.val.as_ref()? {
            Val::Ival(i) => i.ival.to_string(),
            Val::Sval(v) => v.sval.clone(),
            Val::Fval(f) => f.fval.clone(),
            _ => return None,
        })
    } else {
        None
    };
    Some(SettingChange {
        local: s.is_local,
        value,
    })
}

/// A timeout value that means "wait forever" (`0`, `0ms`, `'0s'`).
pub fn is_zero_timeout(value: &str) -> bool {
    let digits: String = value
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    digits.parse::<f64>().is_ok_and(|v| v == 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_timeout_changes_are_read() {
        let c = change_of("SET lock_timeout = '2s'", "lock_timeout").unwrap();
        assert_eq!((c.local, c.value.as_deref()), (false, Some("2s")));
        let c = change_of("set local lock_timeout to 5000", "lock_timeout").unwrap();
        assert_eq!((c.local, c.value.as_deref()), (true, Some("5000")));
        assert_eq!(
            change_of("RESET lock_timeout", "lock_timeout")
                .unwrap()
                .value,
            None
        );
        assert_eq!(change_of("SET statement_timeout = 0", "lock_timeout"), None);
        assert_eq!(change_of("SELECT 1", "lock_timeout"), None);
        assert!(is_zero_timeout("0") && is_zero_timeout("0ms") && !is_zero_timeout("1s"));
    }
}
