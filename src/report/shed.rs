//! Keeping the MR note within its size budget: the public summary sheds detail one
//! piece at a time, largest kinds first, until the rendered note fits (the full report
//! keeps everything). Detail goes before whole migrations do: statement tables and
//! charts first, then causes beyond each migration's worst, then lock rows beyond the
//! longest few, then migration rows beyond the first few, and only then the causes'
//! rows, leaving every migration's verdict line.

use super::causes::drop_to;
use super::public::{PublicMigration, PublicSummary};

/// Migration rows and lock rows kept while other detail can still go.
const KEEP: usize = 5;
const LOCKS_KEPT: usize = 3;

impl PublicSummary {
    /// Leaves out the next piece of detail to shrink the note. False when nothing is
    /// left to drop.
    pub fn shed(&mut self) -> bool {
        let shed = self.shed_migration_detail(|m| &mut m.statements)
            || self.shed_migration_detail(|m| &mut m.statement_times)
            || self.shed_cause(1)
            || self.shed_locks(LOCKS_KEPT)
            || self.shed_migration_row()
            || self.shed_cause(0)
            || self.shed_locks(0);
        self.trimmed |= shed;
        shed
    }

    /// One cause less on the verdict that shows most, while it shows more than `floor`.
    fn shed_cause(&mut self, floor: usize) -> bool {
        let most = self
            .databases
            .iter_mut()
            .flat_map(|d| d.verdicts.iter_mut())
            .filter(|v| v.shown.len() > floor)
            .max_by_key(|v| v.shown.len());
        match most {
            Some(v) => {
                let keep = v.shown.len() - 1;
                drop_to(v, keep);
                true
            }
            None => false,
        }
    }

    /// One lock row less (the shortest hold of the database with most rows), down to
    /// `floor` rows, counted in its "more".
    fn shed_locks(&mut self, floor: usize) -> bool {
        let most = self
            .databases
            .iter_mut()
            .filter(|d| d.locks.len() > floor)
            .max_by_key(|d| d.locks.len());
        match most {
            Some(d) => {
                d.locks.pop();
                d.locks_cut += 1;
                d.locks_more = super::rounding::count(d.locks_cut as i64);
                true
            }
            None => false,
        }
    }

    /// The last migration row of the database with most rows, beyond the first few.
    fn shed_migration_row(&mut self) -> bool {
        match self
            .databases
            .iter_mut()
            .rev()
            .find(|d| d.migrations.len() > KEEP)
        {
            Some(d) => {
                d.migrations.pop();
                d.migrations_cut += 1;
                true
            }
            None => false,
        }
    }

    /// Empties one migration's list (the last migration that has one).
    fn shed_migration_detail<T>(
        &mut self,
        list: impl Fn(&mut PublicMigration) -> &mut Vec<T>,
    ) -> bool {
        let last = self
            .databases
            .iter_mut()
            .rev()
            .flat_map(|d| d.migrations.iter_mut().rev())
            .map(list)
            .find(|l| !l.is_empty());
        match last {
            Some(l) => {
                l.clear();
                true
            }
            None => false,
        }
    }
}
