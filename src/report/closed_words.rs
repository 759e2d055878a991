//! The closed vocabularies the public summary's fixed strings come from: SQLSTATE codes
//! and condition names, lock modes and what they block, migration results, way-back
//! kinds, plan node types and verdicts. Each view owns its list; this gathers them for
//! the leak gate, which is handed them and imports no view.

/// Every word of every closed vocabulary of the views.
pub fn all() -> Vec<&'static str> {
    let mut words: Vec<&'static str> = Vec::new();
    for (code, name) in super::sqlstate::known() {
        words.extend([code, name]);
    }
    for mode in crate::pg::lock_mode::LockMode::ALL {
        words.push(mode.sql_name());
        words.extend(mode.blocks());
    }
    words.extend(crate::model::outcome::RESULTS);
    words.extend(super::way_back::KINDS);
    words.extend(super::plans::NODE_TYPES);
    words.extend(super::plans::VERDICTS);
    words
}
