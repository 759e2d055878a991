//! What a statement's text says, read by PostgreSQL's parser, for the rules that need
//! to know how a change was asked for (NOT VALID, USING INDEX, CONCURRENTLY) on top of
//! what the catalog shows happened.

use pg_query::protobuf::{AlterTableType, ConstrType, Token};
use pg_query::NodeEnum;

/// The statement's text has this keyword (outside strings and comments).
pub fn has_keyword(text: &str, keyword: Token) -> bool {
    pg_query::scan(text).is_ok_and(|s| s.tokens.iter().any(|t| t.token == keyword as i32))
}

pub fn concurrently(text: &str) -> bool {
    has_keyword(text, Token::Concurrently)
}

/// A constraint an `ALTER TABLE ... ADD CONSTRAINT` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedConstraint {
    pub table: String,
    pub name: Option<String>,
    /// `NOT VALID`.
    pub not_valid: bool,
    /// `USING INDEX` (adopts an index that exists).
    pub using_index: bool,
    /// `c`, `f`, `u`, `p`, `x` as in `pg_constraint.contype`.
    pub kind: char,
}

fn constraint_kind(contype: i32) -> Option<char> {
    Some(match ConstrType::try_from(contype).ok()? {
        ConstrType::ConstrCheck => 'c',
        ConstrType::ConstrForeign => 'f',
        ConstrType::ConstrUnique => 'u',
        ConstrType::ConstrPrimary => 'p',
        ConstrType::ConstrExclusion => 'x',
        _ => return None,
    })
}

/// The constraints an `ALTER TABLE` statement adds.
pub fn added_constraints(text: &str) -> Vec<AddedConstraint> {
    let Ok(parsed) = pg_query::parse(text, 0) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for stmt in &parsed.protobuf.stmts {
        let Some(NodeEnum::AlterTableStmt(alter)) =
            stmt.stmt.as_ref().and_then(|n| n.node.as_ref())
        else {
            continue;
        };
        let table = alter
            .relation
            .as_ref()
            .map(|r| r.relname.clone())
            .unwrap_or_default();
        for cmd in &alter.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = cmd.node.as_ref() else {
                continue;
            };
            if cmd.subtype != AlterTableType::AtAddConstraint as i32 {
                continue;
            }
            let Some(NodeEnum::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref())
            else {
                continue;
            };
            let Some(kind) = constraint_kind(c.contype) else {
                continue;
            };
            out.push(AddedConstraint {
                table: table.clone(),
                name: (!c.conname.is_empty()).then(|| c.conname.clone()),
                not_valid: c.skip_validation,
                using_index: !c.indexname.is_empty(),
                kind,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_constraints_say_how_they_were_asked_for() {
        let c = added_constraints(
            "ALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total > 0) NOT VALID",
        );
        assert_eq!(
            c,
            vec![AddedConstraint {
                table: "orders".into(),
                name: Some("orders_total_check".into()),
                not_valid: true,
                using_index: false,
                kind: 'c',
            }]
        );
        let u = added_constraints("ALTER TABLE a ADD CONSTRAINT a_key UNIQUE USING INDEX a_idx");
        assert!(u[0].using_index && u[0].kind == 'u');
        let f = added_constraints("ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b (id)");
        assert_eq!(
            (f[0].kind, f[0].name.clone(), f[0].not_valid),
            ('f', None, false)
        );
        assert!(concurrently("create index concurrently i on t (a)"));
        assert!(!concurrently("create index i on t (a) -- concurrently"));
    }
}
