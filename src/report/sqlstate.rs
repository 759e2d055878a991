//! SQLSTATE codes and their condition names (PostgreSQL's documented names, as used in
//! PL/pgSQL), so the public summary can say `23505 unique_violation` without any of the
//! server's message text. Codes not listed fall back to their class.

const CONDITIONS: &[(&str, &str)] = &[
    ("0A000", "feature_not_supported"),
    ("08000", "connection_exception"),
    ("08003", "connection_does_not_exist"),
    ("08006", "connection_failure"),
    ("08P01", "protocol_violation"),
    ("21000", "cardinality_violation"),
    ("22000", "data_exception"),
    ("22001", "string_data_right_truncation"),
    ("22003", "numeric_value_out_of_range"),
    ("22004", "null_value_not_allowed"),
    ("22007", "invalid_datetime_format"),
    ("22008", "datetime_field_overflow"),
    ("22012", "division_by_zero"),
    ("22023", "invalid_parameter_value"),
    ("2202E", "array_subscript_error"),
    ("22P02", "invalid_text_representation"),
    ("22P03", "invalid_binary_representation"),
    ("22P04", "bad_copy_file_format"),
    ("22P05", "untranslatable_character"),
    ("23000", "integrity_constraint_violation"),
    ("23001", "restrict_violation"),
    ("23502", "not_null_violation"),
    ("23503", "foreign_key_violation"),
    ("23505", "unique_violation"),
    ("23514", "check_violation"),
    ("23P01", "exclusion_violation"),
    ("25000", "invalid_transaction_state"),
    ("25001", "active_sql_transaction"),
    ("25006", "read_only_sql_transaction"),
    ("25P01", "no_active_sql_transaction"),
    ("25P02", "in_failed_sql_transaction"),
    ("28000", "invalid_authorization_specification"),
    ("28P01", "invalid_password"),
    ("2BP01", "dependent_objects_still_exist"),
    ("2F005", "function_executed_no_return_statement"),
    ("38000", "external_routine_exception"),
    ("39000", "external_routine_invocation_exception"),
    ("3D000", "invalid_catalog_name"),
    ("3F000", "invalid_schema_name"),
    ("40001", "serialization_failure"),
    ("40P01", "deadlock_detected"),
    ("42000", "syntax_error_or_access_rule_violation"),
    ("42501", "insufficient_privilege"),
    ("42601", "syntax_error"),
    ("42602", "invalid_name"),
    ("42611", "invalid_column_definition"),
    ("42622", "name_too_long"),
    ("42701", "duplicate_column"),
    ("42702", "ambiguous_column"),
    ("42703", "undefined_column"),
    ("42704", "undefined_object"),
    ("42710", "duplicate_object"),
    ("42712", "duplicate_alias"),
    ("42723", "duplicate_function"),
    ("42725", "ambiguous_function"),
    ("42803", "grouping_error"),
    ("42804", "datatype_mismatch"),
    ("42809", "wrong_object_type"),
    ("42830", "invalid_foreign_key"),
    ("42846", "cannot_coerce"),
    ("42883", "undefined_function"),
    ("428C9", "generated_always"),
    ("42939", "reserved_name"),
    ("42P01", "undefined_table"),
    ("42P02", "undefined_parameter"),
    ("42P04", "duplicate_database"),
    ("42P06", "duplicate_schema"),
    ("42P07", "duplicate_table"),
    ("42P10", "invalid_column_reference"),
    ("42P13", "invalid_function_definition"),
    ("42P16", "invalid_table_definition"),
    ("42P17", "invalid_object_definition"),
    ("53000", "insufficient_resources"),
    ("53100", "disk_full"),
    ("53200", "out_of_memory"),
    ("53300", "too_many_connections"),
    ("54000", "program_limit_exceeded"),
    ("54001", "statement_too_complex"),
    ("54011", "too_many_columns"),
    ("55000", "object_not_in_prerequisite_state"),
    ("55006", "object_in_use"),
    ("55P03", "lock_not_available"),
    ("57014", "query_canceled"),
    ("57P01", "admin_shutdown"),
    ("57P02", "crash_shutdown"),
    ("57P03", "cannot_connect_now"),
    ("58000", "system_error"),
    ("58030", "io_error"),
    ("P0000", "plpgsql_error"),
    ("P0001", "raise_exception"),
    ("P0002", "no_data_found"),
    ("P0003", "too_many_rows"),
    ("P0004", "assert_failure"),
    ("XX000", "internal_error"),
];

const CLASSES: &[(&str, &str)] = &[
    ("08", "connection_exception"),
    ("0A", "feature_not_supported"),
    ("22", "data_exception"),
    ("23", "integrity_constraint_violation"),
    ("25", "invalid_transaction_state"),
    ("28", "invalid_authorization_specification"),
    ("40", "transaction_rollback"),
    ("42", "syntax_error_or_access_rule_violation"),
    ("53", "insufficient_resources"),
    ("54", "program_limit_exceeded"),
    ("55", "object_not_in_prerequisite_state"),
    ("57", "operator_intervention"),
    ("58", "system_error"),
    ("P0", "plpgsql_error"),
    ("XX", "internal_error"),
];

/// Every code (or class) and condition name the summary may show.
pub fn known() -> impl Iterator<Item = (&'static str, &'static str)> {
    CONDITIONS.iter().chain(CLASSES.iter()).copied()
}

/// A well-formed SQLSTATE: five characters, digits or upper-case letters.
pub fn is_sqlstate(code: &str) -> bool {
    code.len() == 5
        && code
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

/// The condition name for a SQLSTATE (or its class), if known.
pub fn condition_name(code: &str) -> Option<&'static str> {
    if !is_sqlstate(code) {
        return None;
    }
    CONDITIONS
        .iter()
        .find(|(c, _)| *c == code)
        .or_else(|| CLASSES.iter().find(|(c, _)| code.starts_with(c)))
        .map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_class_fallback() {
        assert_eq!(condition_name("23505"), Some("unique_violation"));
        assert_eq!(condition_name("25001"), Some("active_sql_transaction"));
        assert_eq!(
            condition_name("23999"),
            Some("integrity_constraint_violation")
        );
        assert_eq!(condition_name("ZZ999"), None);
        assert_eq!(condition_name("x'; drop"), None);
    }
}
